//! Drain's fixed-depth prefix tree and its clusters (templates).
//!
//! Level 1 of the tree is the message's token count; the next `depth - 3`
//! levels are its first tokens (fewer for short messages), where a token
//! containing a digit, a masked token, or any token past `max_children`
//! takes the wildcard branch; the leaves hold clusters. A message is compared
//! only with the clusters of its leaf, so the cost per message is bounded by
//! the leaf's size, not by the number of templates.

use std::collections::HashMap;

use super::mask::WILDCARD;

/// Index of a node in [`Tree::nodes`]; only [`Tree::new_node`] makes one.
type NodeIx = usize;

/// One template: its tokens (`None` is the wildcard), the text shown to
/// users, and how many messages it has matched.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) tokens: Vec<Option<Box<str>>>,
    pub(crate) text: String,
    pub(crate) count: u64,
}

impl Cluster {
    /// A template equal to the message (a masked token is a wildcard).
    fn new(tokens: &Tokens<'_>) -> Self {
        Self::from_template((0..tokens.len()).map(|i| tokens.get(i)), 0)
    }

    /// Builds a cluster from template tokens (`<*>` is the wildcard).
    pub(crate) fn from_template<'t>(tokens: impl Iterator<Item = &'t str>, count: u64) -> Self {
        let tokens = tokens
            .map(|t| (t != WILDCARD).then(|| Box::from(t)))
            .collect();
        let mut cluster = Self {
            tokens,
            text: String::new(),
            count,
        };
        cluster.render();
        cluster
    }

    fn render(&mut self) {
        self.text.clear();
        for (i, t) in self.tokens.iter().enumerate() {
            if i > 0 {
                self.text.push(' ');
            }
            self.text.push_str(t.as_deref().unwrap_or(WILDCARD));
        }
    }

    /// Drain's similarity: (tokens equal to a non-wildcard template token,
    /// wildcard positions). The caller guarantees equal lengths.
    fn similarity(&self, tokens: &Tokens<'_>) -> (usize, usize) {
        let mut same = 0;
        let mut params = 0;
        for (i, t) in self.tokens.iter().enumerate() {
            match t {
                None => params += 1,
                Some(t) if **t == *tokens.get(i) => same += 1,
                Some(_) => {}
            }
        }
        (same, params)
    }

    /// Turns every token that differs from the message into a wildcard.
    /// Returns whether the template changed.
    fn merge(&mut self, tokens: &Tokens<'_>) -> bool {
        let mut changed = false;
        for (i, t) in self.tokens.iter_mut().enumerate() {
            if t.as_deref().is_some_and(|t| t != tokens.get(i)) {
                *t = None;
                changed = true;
            }
        }
        if changed {
            self.render();
        }
        changed
    }
}

/// A message split into tokens: spans into one string, so that splitting
/// allocates nothing once the span buffer has grown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens<'a> {
    text: &'a str,
    spans: &'a [(u32, u32)],
}

impl<'a> Tokens<'a> {
    /// Splits `text` on whitespace and on `delimiters` into `spans` (cleared
    /// first).
    pub(crate) fn split(
        text: &'a str,
        delimiters: &[char],
        spans: &'a mut Vec<(u32, u32)>,
    ) -> Self {
        spans.clear();
        let mut start: Option<usize> = None;
        let is_sep = |c: char| c.is_whitespace() || delimiters.contains(&c);
        for (i, c) in text.char_indices() {
            match (start, is_sep(c)) {
                (None, false) => start = Some(i),
                (Some(s), true) => {
                    spans.push((to_u32(s), to_u32(i)));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((to_u32(s), to_u32(text.len())));
        }
        Self { text, spans }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn get(&self, i: usize) -> &'a str {
        self.spans
            .get(i)
            .and_then(|&(s, e)| self.text.get(s as usize..e as usize))
            .unwrap_or_default()
    }
}

/// Offsets into a message: messages longer than 4 GiB are clamped (their
/// tail then forms one token), which no log line reaches.
fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// A branch of the tree: a literal token or the wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Branch {
    Token(Box<str>),
    Wildcard,
}

#[derive(Debug, Default, Clone)]
struct Node {
    children: HashMap<Box<str>, NodeIx>,
    wildcard: Option<NodeIx>,
    /// Clusters of a leaf, in creation order (ties go to the oldest).
    clusters: Vec<usize>,
}

impl Node {
    fn child_count(&self) -> usize {
        self.children.len() + usize::from(self.wildcard.is_some())
    }
}

/// The prefix tree plus all clusters, indexed by `id - 1`.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    depth: u32,
    max_children: usize,
    threshold: f64,
    by_length: HashMap<usize, NodeIx>,
    nodes: Vec<Node>,
    pub(crate) clusters: Vec<Cluster>,
}

/// What [`Tree::add`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    Generalized,
    Matched,
}

impl Tree {
    pub(crate) fn new(depth: u32, max_children: u32, threshold: f64) -> Self {
        Self {
            depth,
            max_children: max_children as usize,
            threshold,
            by_length: HashMap::new(),
            nodes: Vec::new(),
            clusters: Vec::new(),
        }
    }

    /// How many leading tokens route a message of `len` tokens: at most
    /// `depth - 3`, and never the last token (as in Drain3), so that a
    /// one-token message is routed by its length alone.
    fn prefix_len(&self, len: usize) -> usize {
        (self.depth as usize - 3).min(len.saturating_sub(1))
    }

    /// Adds one message: joins the most similar cluster of its leaf (if
    /// similar enough), generalizing it, or creates a new cluster if `create`
    /// allows. Returns the cluster's index (`id - 1`) and what happened, or
    /// `None` if the message matched nothing and `create` was false.
    pub(crate) fn add(&mut self, tokens: &Tokens<'_>, create: bool) -> Option<(usize, Outcome)> {
        if let Some(ix) = self.search(tokens)
            && let Some(cluster) = self.clusters.get_mut(ix)
        {
            cluster.count += 1;
            let outcome = if cluster.merge(tokens) {
                Outcome::Generalized
            } else {
                Outcome::Matched
            };
            return Some((ix, outcome));
        }
        if !create {
            return None;
        }
        let ix = self.clusters.len();
        let mut cluster = Cluster::new(tokens);
        cluster.count = 1;
        self.clusters.push(cluster);
        let leaf = self.route_new(tokens);
        self.node_mut(leaf).clusters.push(ix);
        Some((ix, Outcome::Created))
    }

    // Node indexes are made only by `new_node` and nodes are never removed,
    // so indexing cannot fail.
    fn node(&self, ix: NodeIx) -> &Node {
        &self.nodes[ix]
    }

    fn node_mut(&mut self, ix: NodeIx) -> &mut Node {
        &mut self.nodes[ix]
    }

    fn new_node(&mut self) -> NodeIx {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    /// The cluster a message joins, if any: walk to its leaf (literal child
    /// first, else the wildcard child), then take the most similar cluster
    /// (ties: more wildcards, then the oldest), if similar enough.
    fn search(&self, tokens: &Tokens<'_>) -> Option<usize> {
        let n = tokens.len();
        let mut node = *self.by_length.get(&n)?;
        for i in 0..self.prefix_len(n) {
            let current = self.node(node);
            node = match current.children.get(tokens.get(i)) {
                Some(&child) if tokens.get(i) != WILDCARD => child,
                _ => current.wildcard?,
            };
        }
        let mut best: Option<(usize, usize, usize)> = None;
        for &ix in &self.node(node).clusters {
            let Some(cluster) = self.clusters.get(ix) else {
                continue;
            };
            let (same, params) = cluster.similarity(tokens);
            if best.is_none_or(|(_, s, p)| same > s || (same == s && params > p)) {
                best = Some((ix, same, params));
            }
        }
        let (ix, same, _) = best?;
        // An empty message is similar to the (only) empty template.
        let similar = n == 0 || same as f64 / n as f64 >= self.threshold;
        similar.then_some(ix)
    }

    /// Walks (and grows) the tree for a new cluster, returning its leaf.
    fn route_new(&mut self, tokens: &Tokens<'_>) -> NodeIx {
        let n = tokens.len();
        let mut node = match self.by_length.get(&n) {
            Some(&node) => node,
            None => {
                let node = self.new_node();
                self.by_length.insert(n, node);
                node
            }
        };
        for i in 0..self.prefix_len(n) {
            let token = tokens.get(i);
            let branch = self.choose_branch(node, token);
            node = self.child(node, branch);
        }
        node
    }

    /// Drain's rule for the branch a new cluster takes at `node`.
    fn choose_branch(&self, node: NodeIx, token: &str) -> Branch {
        let current = self.node(node);
        if token == WILDCARD || token.bytes().any(|b| b.is_ascii_digit()) {
            return Branch::Wildcard;
        }
        if current.children.contains_key(token) {
            return Branch::Token(Box::from(token));
        }
        // A new literal child only while there is room: the last free slot
        // is kept for the wildcard child.
        let room = match current.wildcard {
            Some(_) => current.child_count() < self.max_children,
            None => current.child_count() + 1 < self.max_children,
        };
        if room {
            Branch::Token(Box::from(token))
        } else {
            Branch::Wildcard
        }
    }

    /// The child of `node` on `branch`, created if missing.
    fn child(&mut self, node: NodeIx, branch: Branch) -> NodeIx {
        let existing = match &branch {
            Branch::Token(t) => self.node(node).children.get(&**t).copied(),
            Branch::Wildcard => self.node(node).wildcard,
        };
        if let Some(child) = existing {
            return child;
        }
        let child = self.new_node();
        let parent = self.node_mut(node);
        match branch {
            Branch::Token(t) => {
                parent.children.insert(t, child);
            }
            Branch::Wildcard => parent.wildcard = Some(child),
        }
        child
    }

    /// The branches from the root to each cluster's leaf, indexed like
    /// `clusters`: what [`Tree::restore`] needs to rebuild this exact tree.
    pub(crate) fn paths(&self) -> Vec<Vec<Branch>> {
        let mut paths = vec![Vec::new(); self.clusters.len()];
        let mut stack: Vec<(NodeIx, Vec<Branch>)> =
            self.by_length.values().map(|&n| (n, Vec::new())).collect();
        while let Some((node, path)) = stack.pop() {
            let current = self.node(node);
            for &ix in &current.clusters {
                if let Some(p) = paths.get_mut(ix) {
                    p.clone_from(&path);
                }
            }
            for (token, &child) in &current.children {
                let mut p = path.clone();
                p.push(Branch::Token(token.clone()));
                stack.push((child, p));
            }
            if let Some(child) = current.wildcard {
                let mut p = path.clone();
                p.push(Branch::Wildcard);
                stack.push((child, p));
            }
        }
        paths
    }

    /// Appends a saved cluster at the end of its saved path (clusters must be
    /// restored in id order, which is the order they were created in).
    pub(crate) fn restore(&mut self, cluster: Cluster, path: Vec<Branch>) {
        let n = cluster.tokens.len();
        let mut node = match self.by_length.get(&n) {
            Some(&node) => node,
            None => {
                let node = self.new_node();
                self.by_length.insert(n, node);
                node
            }
        };
        for branch in path {
            node = self.child(node, branch);
        }
        let ix = self.clusters.len();
        self.clusters.push(cluster);
        self.node_mut(node).clusters.push(ix);
    }

    /// The expected path length of a template of `len` tokens.
    pub(crate) fn expected_path_len(&self, len: usize) -> usize {
        self.prefix_len(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(tree: &mut Tree, line: &str) -> (usize, Outcome, String) {
        let mut spans = Vec::new();
        let tokens = Tokens::split(line, &[], &mut spans);
        let (ix, outcome) = tree.add(&tokens, true).expect("creating is allowed");
        (ix, outcome, tree.clusters[ix].text.clone())
    }

    #[test]
    fn similar_messages_merge_into_a_wildcard_template() {
        let mut tree = Tree::new(4, 100, 0.5);
        let (a, o, _) = add(&mut tree, "Deleting block file foo");
        assert_eq!(o, Outcome::Created);
        let (b, o, t) = add(&mut tree, "Deleting block file bar");
        assert_eq!((a, o), (b, Outcome::Generalized));
        assert_eq!(t, "Deleting block file <*>");
        let (c, o, t) = add(&mut tree, "Deleting block file baz");
        assert_eq!(
            (c, o, t.as_str()),
            (a, Outcome::Matched, "Deleting block file <*>")
        );
        assert_eq!(tree.clusters[a].count, 3);
    }

    #[test]
    fn dissimilar_or_differently_sized_messages_get_new_templates() {
        let mut tree = Tree::new(4, 100, 0.5);
        let (a, ..) = add(&mut tree, "Deleting block file foo");
        // Same first token and length, but only 1 of 4 tokens in common.
        let (b, o, _) = add(&mut tree, "Deleting x y z");
        assert_ne!(a, b);
        assert_eq!(o, Outcome::Created);
        // Other token count: another subtree altogether.
        let (c, ..) = add(&mut tree, "Deleting block file foo now");
        assert!(c != a && c != b);
        // Exactly at the threshold (2 of 4) merges.
        let (d, o, t) = add(&mut tree, "Deleting block q r");
        assert_eq!((d, o), (a, Outcome::Generalized));
        assert_eq!(t, "Deleting block <*> <*>");
    }

    #[test]
    fn tokens_with_digits_take_the_wildcard_branch() {
        let mut tree = Tree::new(4, 100, 0.5);
        let (a, ..) = add(&mut tree, "node7 is up now");
        let (b, o, t) = add(&mut tree, "node8 is up now");
        assert_eq!((a, o), (b, Outcome::Generalized));
        assert_eq!(t, "<*> is up now");
        let root = tree.by_length[&4];
        assert!(tree.node(root).children.is_empty());
        assert!(tree.node(root).wildcard.is_some());
        // A literal first token still finds the cluster through the wildcard.
        let (c, o, _) = add(&mut tree, "nodeX is up now");
        assert_eq!((c, o), (a, Outcome::Matched));
    }

    #[test]
    fn past_max_children_new_tokens_share_the_wildcard_branch() {
        let mut tree = Tree::new(4, 3, 0.5);
        add(&mut tree, "alpha a b c");
        add(&mut tree, "beta a b c");
        let root = tree.by_length[&4];
        assert_eq!(tree.node(root).children.len(), 2);
        assert!(tree.node(root).wildcard.is_none());
        // The third child is the wildcard; gamma and delta both go there.
        let (g, o, _) = add(&mut tree, "gamma a b c");
        assert_eq!(o, Outcome::Created);
        assert!(tree.node(root).wildcard.is_some());
        let (d, o, t) = add(&mut tree, "delta a b c");
        assert_eq!((d, o, t.as_str()), (g, Outcome::Generalized, "<*> a b c"));
        assert_eq!(tree.node(root).child_count(), 3);
        // alpha still has its own branch and template.
        let (a, o, t) = add(&mut tree, "alpha a b c");
        assert_eq!((a, o, t.as_str()), (0, Outcome::Matched, "alpha a b c"));
    }

    #[test]
    fn ties_prefer_more_wildcards_then_the_oldest() {
        let mut tree = Tree::new(3, 100, 0.5);
        // Depth 3: every 4-token template shares the one leaf.
        for t in ["a b c d", "a b x y", "a b <*> <*>"] {
            tree.restore(Cluster::from_template(t.split(' '), 1), Vec::new());
        }
        // 2 equal tokens with each: the one with more wildcards wins.
        let (ix, o, _) = add(&mut tree, "a b p q");
        assert_eq!((ix, o), (2, Outcome::Matched));
        // Equal similarity and wildcards: the oldest wins.
        let (ix, o, t) = add(&mut tree, "a b c y");
        assert_eq!((ix, o, t.as_str()), (0, Outcome::Generalized, "a b c <*>"));
        // More equal tokens beats more wildcards.
        let (ix, o, _) = add(&mut tree, "a b x y");
        assert_eq!((ix, o), (1, Outcome::Matched));
    }

    #[test]
    fn splitting_honours_extra_delimiters_and_keeps_no_empty_tokens() {
        let mut spans = Vec::new();
        let t = Tokens::split("  a=1,b  c\t", &['=', ','], &mut spans);
        let got: Vec<&str> = (0..t.len()).map(|i| t.get(i)).collect();
        assert_eq!(got, ["a", "1", "b", "c"]);
        let t = Tokens::split("", &[], &mut spans);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn paths_rebuild_the_same_tree() {
        let mut tree = Tree::new(5, 3, 0.5);
        for line in [
            "a b c d", "b b c d", "c1 x y z", "d q r s", "e q r s", "a", "",
        ] {
            add(&mut tree, line);
        }
        let paths = tree.paths();
        let mut copy = Tree::new(5, 3, 0.5);
        for (c, p) in tree.clusters.iter().zip(paths.clone()) {
            assert_eq!(p.len(), copy.expected_path_len(c.tokens.len()));
            copy.restore(c.clone(), p);
        }
        assert_eq!(copy.paths(), paths);
        for line in ["f q r s", "a b c e", "c2 x y z"] {
            let (i, o, t) = add(&mut tree, line);
            let (j, p, u) = add(&mut copy, line);
            assert_eq!((i, o, t), (j, p, u));
        }
    }
}
