//! Online log template mining in the style of Drain (He et al., ICWS 2017).
//!
//! Each message (the `Content` part of a log line) is masked (ids, addresses
//! and numbers become `<*>`), split into tokens and routed through a
//! fixed-depth prefix tree to a leaf holding a few templates; it joins the
//! most similar one, whose differing tokens become `<*>`, or founds a new one.
//! Template ids are assigned at creation and never change or get reused, also
//! across [`Miner::save`] and [`Miner::load`].
//!
//! ```
//! use logsync_ingest::template::{Miner, MinerConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut miner = Miner::new(MinerConfig::for_preset("hdfs").ok_or("unknown preset")?)?;
//! let first = miner.add("Deleting block blk_-1608999687919862906 file /mnt/hadoop/dfs/data/a");
//! assert!(first.new);
//! let id = first.id;
//! let second = miner.add("Deleting block blk_7503483334202473044 file /mnt/hadoop/dfs/data/b");
//! assert_eq!((second.id, second.new), (id, false));
//! assert_eq!(second.template, "Deleting block <*> file <*>");
//!
//! let mut state = Vec::new();
//! miner.save(&mut state)?;
//! let mut again = Miner::load(&mut state.as_slice())?;
//! assert_eq!(again.add("Deleting block blk_1 file /c").id, id);
//! # Ok(())
//! # }
//! ```

mod config;
mod mask;
mod state;
mod tree;

use std::io::{Read, Write};

pub use config::{MAX_DEPTH, MinerConfig, PRESETS};
pub use mask::WILDCARD;

use mask::Masker;
use tree::{Outcome, Tokens, Tree};

/// Errors of the template miner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A setting is out of range.
    #[error("invalid template miner setting {setting}: {reason}")]
    InvalidConfig {
        /// Name of the setting (a [`MinerConfig`] field).
        setting: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A mask is not a valid regex.
    #[error("invalid mask regex {pattern:?}: {source}")]
    BadMask {
        /// The regex as given.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
    /// Reading or writing the miner's state failed.
    #[error("{op} template miner state: {source}")]
    Io {
        /// `"reading"` or `"writing"`.
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state file is damaged or not a miner state at all.
    #[error("corrupt template miner state at line {line}: {reason}")]
    CorruptState {
        /// 1-based line of the state file where the damage shows.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The state file was written by a newer (or unknown) format version.
    #[error(
        "template miner state has format version {found}, this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// Version found in the file.
        found: String,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The state is larger than the limit [`Miner::load`] accepts (1 GiB).
    #[error("template miner state exceeds {max} bytes")]
    StateTooLarge {
        /// The limit.
        max: u64,
    },
}

/// The template a message was assigned to by [`Miner::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    /// Template id: 1 for the first template, then 2, 3, ... in creation
    /// order; a template keeps its id when it generalizes. 0 (with an empty
    /// `template`) means the message matched no template and the miner
    /// already holds [`MinerConfig::max_templates`].
    pub id: u32,
    /// The template after this message was added, tokens joined by one space,
    /// variable tokens shown as [`WILDCARD`].
    pub template: &'a str,
    /// The message founded this template.
    pub new: bool,
    /// The message made an existing template more general (its text changed).
    pub generalized: bool,
}

/// An online template miner. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Miner {
    config: MinerConfig,
    masker: Masker,
    tree: Tree,
    // Reused buffers: masking and splitting allocate nothing per message once
    // these have grown to the longest one.
    masked: String,
    scratch: String,
    spans: Vec<(u32, u32)>,
}

impl Miner {
    /// A miner with no templates yet.
    ///
    /// # Errors
    /// [`TemplateError::InvalidConfig`] or [`TemplateError::BadMask`] for bad
    /// settings.
    pub fn new(config: MinerConfig) -> Result<Self, TemplateError> {
        config.validate()?;
        let masker = Masker::new(&config.masks)?;
        let tree = Tree::new(
            config.depth,
            config.max_children,
            config.similarity_threshold,
        );
        Ok(Self::from_parts(config, masker, tree))
    }

    /// A miner over an existing tree (new, or restored from a saved state),
    /// with empty work buffers.
    fn from_parts(config: MinerConfig, masker: Masker, tree: Tree) -> Self {
        Self {
            config,
            masker,
            tree,
            masked: String::new(),
            scratch: String::new(),
            spans: Vec::new(),
        }
    }

    /// The settings this miner runs with.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Assigns `message` to a template, creating or generalizing one as
    /// needed.
    pub fn add(&mut self, message: &str) -> Match<'_> {
        let masked = self
            .masker
            .apply(message, &mut self.masked, &mut self.scratch);
        let tokens = Tokens::split(masked, &self.config.delimiters, &mut self.spans);
        let create = self.tree.clusters.len() < self.config.max_templates as usize;
        let Some((ix, outcome)) = self.tree.add(&tokens, create) else {
            return Match {
                id: 0,
                template: "",
                new: false,
                generalized: false,
            };
        };
        let template = self
            .tree
            .clusters
            .get(ix)
            .map(|c| c.text.as_str())
            .unwrap_or_default();
        Match {
            id: cluster_id(ix),
            template,
            new: outcome == Outcome::Created,
            generalized: outcome == Outcome::Generalized,
        }
    }

    /// Number of templates so far (the highest id).
    pub fn len(&self) -> usize {
        self.tree.clusters.len()
    }

    /// Whether no message was added yet.
    pub fn is_empty(&self) -> bool {
        self.tree.clusters.is_empty()
    }

    /// The template with this id, if any.
    pub fn template(&self, id: u32) -> Option<&str> {
        let ix = (id as usize).checked_sub(1)?;
        self.tree.clusters.get(ix).map(|c| c.text.as_str())
    }

    /// Every template in id order: `(id, template, messages matched)`.
    pub fn templates(&self) -> impl ExactSizeIterator<Item = (u32, &str, u64)> + '_ {
        self.tree
            .clusters
            .iter()
            .enumerate()
            .map(|(ix, c)| (cluster_id(ix), c.text.as_str(), c.count))
    }

    /// Writes the settings and all templates, with the tree routes that make
    /// a reloaded miner behave exactly as this one (see [`Miner::load`]).
    /// The format is text, versioned and protected by a CRC-32C.
    ///
    /// # Errors
    /// [`TemplateError::Io`] if `w` fails.
    pub fn save(&self, w: &mut impl Write) -> Result<(), TemplateError> {
        state::save(self, w)
    }

    /// Reads a state written by [`Miner::save`]. Adding messages to the
    /// loaded miner assigns the same ids and templates as the saved miner
    /// would have.
    ///
    /// # Errors
    /// [`TemplateError::Io`] if reading fails; [`TemplateError::CorruptState`],
    /// [`TemplateError::UnsupportedVersion`] or
    /// [`TemplateError::StateTooLarge`] for a damaged or foreign file;
    /// [`TemplateError::BadMask`] if a saved mask does not compile.
    pub fn load(r: &mut impl Read) -> Result<Self, TemplateError> {
        state::load(r)
    }
}

fn cluster_id(ix: usize) -> u32 {
    // `Tree` refuses more than 2^32 - 1 clusters.
    u32::try_from(ix + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_while_templates_generalize() {
        let mut miner = Miner::new(MinerConfig::default()).expect("valid config");
        let a = miner.add("Connection from alice closed");
        assert_eq!((a.id, a.new, a.generalized), (1, true, false));
        let b = miner.add("Disk sda is full");
        assert_eq!((b.id, b.new), (2, true));
        let c = miner.add("Connection from bob closed");
        assert_eq!((c.id, c.new, c.generalized), (1, false, true));
        assert_eq!(c.template, "Connection from <*> closed");
        let d = miner.add("Connection from carol closed");
        assert_eq!((d.id, d.new, d.generalized), (1, false, false));
        let all: Vec<(u32, &str, u64)> = miner.templates().collect();
        assert_eq!(
            all,
            [
                (1, "Connection from <*> closed", 3),
                (2, "Disk sda is full", 1)
            ]
        );
        assert_eq!(miner.template(2), Some("Disk sda is full"));
        assert_eq!(miner.template(0), None);
        assert_eq!(miner.template(3), None);
    }

    #[test]
    fn masked_values_become_wildcards_from_the_first_message() {
        let mut miner = Miner::new(MinerConfig::default()).expect("valid config");
        let m = miner.add("Served block blk_-42 to /10.0.0.1:50010 in 12 ms");
        assert_eq!(m.template, "Served block <*> to /<*> in <*> ms");
    }

    #[test]
    fn extra_delimiters_split_tokens() {
        let config = MinerConfig {
            delimiters: vec!['='],
            ..MinerConfig::default()
        };
        let mut miner = Miner::new(config).expect("valid config");
        assert_eq!(
            miner.add("user=alice action=login").template,
            "user alice action login"
        );
        let m = miner.add("user=bob action=login");
        assert_eq!((m.id, m.template), (1, "user <*> action login"));
    }

    #[test]
    fn empty_messages_share_one_template() {
        let mut miner = Miner::new(MinerConfig::default()).expect("valid config");
        let a = miner.add("").id;
        let b = miner.add("   ").id;
        assert_eq!(a, b);
        assert_eq!(miner.template(a), Some(""));
    }

    #[test]
    fn a_full_miner_still_matches_but_creates_no_template() {
        let config = MinerConfig {
            max_templates: 2,
            ..MinerConfig::default()
        };
        let mut miner = Miner::new(config).expect("valid config");
        assert_eq!(miner.add("disk sda is full").id, 1);
        assert_eq!(miner.add("link eth0 is down").id, 2);
        let m = miner.add("fan speed too low");
        assert_eq!((m.id, m.template, m.new), (0, "", false));
        let m = miner.add("disk sdb is full");
        assert_eq!(
            (m.id, m.template, m.generalized),
            (1, "disk <*> is full", true)
        );
        assert_eq!(miner.len(), 2);
    }

    #[test]
    fn bad_settings_are_refused() {
        let config = MinerConfig {
            masks: vec!["[".to_owned()],
            ..MinerConfig::default()
        };
        assert!(matches!(
            Miner::new(config),
            Err(TemplateError::BadMask { .. })
        ));
        let config = MinerConfig {
            max_children: 1,
            ..MinerConfig::default()
        };
        assert!(matches!(
            Miner::new(config),
            Err(TemplateError::InvalidConfig {
                setting: "max_children",
                ..
            })
        ));
    }
}
