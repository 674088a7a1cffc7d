//! Template mining on the six LogHub 2k samples: the hand-written ground
//! truth is complete and unambiguous, the miner reaches at least the grouping
//! accuracy the reference Drain publishes, ids survive save/load mid-stream,
//! and the mining speed is printed.
//!
//! Ground truth: `tests/data/templates/<System>.txt` holds one template per
//! line (blank lines and lines starting with `#` are ignored), written by
//! reading the sample. A template matches a message (the line's `Content`
//! field, trimmed) when the whole message is the template with
//! - each `<*>` replaced by a non-empty run of non-whitespace characters (a
//!   variable token, or the variable part of one, as in `rhost=<*>`),
//! - each `<+>` replaced by one or more whole tokens (a variable-length list,
//!   or free text such as an exception message),
//! - each run of whitespace matching a run of whitespace.
//!
//! Every message must match exactly one template, and every template at
//! least one message: the ground truth is complete and unambiguous.

use std::collections::HashMap;
use std::time::Instant;

use crate::loghub::{SYSTEMS, System};
use logsync_ingest::template::{Miner, MinerConfig};
use regex::{Regex, RegexSet};

/// Accuracy the reference Drain reaches on each sample (LogPAI's benchmark).
fn published_accuracy(system: &str) -> f64 {
    match system {
        "HDFS" => 0.9975,
        "BGL" => 0.9625,
        "Zookeeper" => 0.9665,
        "OpenSSH" => 0.7875,
        "Apache" => 1.0,
        "Spark" => 0.92,
        _ => unreachable!("unknown system {system}"),
    }
}

fn ground_truth(system: &System) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/templates")
        .join(format!("{}.txt", system.name));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The anchored regex of a ground-truth template (see the file docs).
fn template_regex(template: &str) -> String {
    let mut re = String::from("^");
    let mut in_space = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("<*>") {
            re.push_str(r"\S+?");
            rest = after;
            in_space = false;
            continue;
        }
        if let Some(after) = rest.strip_prefix("<+>") {
            re.push_str(r"\S+(?:\s+\S+)*?");
            rest = after;
            in_space = false;
            continue;
        }
        if c.is_whitespace() {
            if !in_space {
                re.push_str(r"\s+");
            }
            in_space = true;
        } else {
            re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            in_space = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    re.push('$');
    re
}

/// For each message, the index of the one ground-truth template it matches;
/// panics naming every message that matches none or several.
fn truth_groups(system: &System, messages: &[String]) -> Vec<usize> {
    let templates = ground_truth(system);
    let patterns: Vec<String> = templates.iter().map(|t| template_regex(t)).collect();
    let set = RegexSet::new(&patterns).expect("ground-truth templates compile");
    let mut problems = Vec::new();
    let mut used = vec![false; templates.len()];
    let groups: Vec<usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let m = m.trim();
            let hits: Vec<usize> = set.matches(m).into_iter().collect();
            match hits.as_slice() {
                [one] => {
                    used[*one] = true;
                    *one
                }
                [] => {
                    problems.push(format!("line {}: no template matches {m:?}", i + 1));
                    usize::MAX
                }
                many => {
                    let names: Vec<&str> = many.iter().map(|&t| templates[t].as_str()).collect();
                    problems.push(format!("line {}: {m:?} matches {names:?}", i + 1));
                    usize::MAX
                }
            }
        })
        .collect();
    for (t, used) in templates.iter().zip(&used) {
        if !used {
            problems.push(format!("template {t:?} matches no line"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} ground truth has {} problems:\n{}",
        system.name,
        problems.len(),
        problems.join("\n")
    );
    groups
}

/// LogPAI's grouping accuracy: the fraction of messages whose predicted group
/// (all messages given the same predicted id) is exactly their ground-truth
/// group.
fn grouping_accuracy(truth: &[usize], predicted: &[u32]) -> f64 {
    assert_eq!(truth.len(), predicted.len());
    let mut truth_sizes: HashMap<usize, usize> = HashMap::new();
    for t in truth {
        *truth_sizes.entry(*t).or_default() += 1;
    }
    let mut predicted_groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (line, p) in predicted.iter().enumerate() {
        predicted_groups.entry(*p).or_default().push(line);
    }
    let mut correct = 0;
    for lines in predicted_groups.values() {
        let first = truth[lines[0]];
        if lines.iter().all(|&l| truth[l] == first) && truth_sizes[&first] == lines.len() {
            correct += lines.len();
        }
    }
    correct as f64 / truth.len() as f64
}

/// The predicted groups that are not exactly a ground-truth group, each with
/// an example message and the ground-truth templates it mixes: what to look
/// at when the accuracy drops.
fn wrong_groups(
    messages: &[String],
    templates: &[String],
    truth: &[usize],
    predicted: &[u32],
) -> Vec<String> {
    let mut truth_sizes: HashMap<usize, usize> = HashMap::new();
    for t in truth {
        *truth_sizes.entry(*t).or_default() += 1;
    }
    let mut groups: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (line, p) in predicted.iter().enumerate() {
        groups.entry(*p).or_default().push(line);
    }
    let mut out = Vec::new();
    for (id, lines) in groups {
        let first = truth[lines[0]];
        if lines.iter().all(|&l| truth[l] == first) && truth_sizes[&first] == lines.len() {
            continue;
        }
        let mut mixed: std::collections::BTreeMap<usize, usize> = Default::default();
        for &l in &lines {
            *mixed.entry(truth[l]).or_default() += 1;
        }
        let example: String = messages[lines[0]].chars().take(120).collect();
        out.push(format!(
            "  template id {id}, {} lines, e.g. {example:?}",
            lines.len()
        ));
        for (t, n) in mixed {
            out.push(format!(
                "    {n} of the {} lines of {:?}",
                truth_sizes[&t], templates[t]
            ));
        }
    }
    out
}

fn mine(system: &System, messages: &[String]) -> Vec<u32> {
    let config = MinerConfig::for_preset(system.preset).expect("preset exists");
    mine_with(config, messages)
}

fn mine_with(config: MinerConfig, messages: &[String]) -> Vec<u32> {
    let mut miner = Miner::new(config).expect("preset is valid");
    messages.iter().map(|m| miner.add(m).id).collect()
}

#[test]
fn grouping_accuracy_reaches_the_published_drain_figures() {
    let mut report = Vec::new();
    let mut short = Vec::new();
    for system in &SYSTEMS {
        let messages = system.contents();
        assert_eq!(messages.len(), 2000, "{}", system.name);
        let truth = truth_groups(system, &messages);
        let predicted = mine(system, &messages);
        let accuracy = grouping_accuracy(&truth, &predicted);
        let published = published_accuracy(system.name);
        // For information: the generic settings a format without a preset gets.
        let generic = grouping_accuracy(&truth, &mine_with(MinerConfig::default(), &messages));
        report.push(format!(
            "{:<10} accuracy {accuracy:.4} (published Drain {published:.4}; \
             with the default settings {generic:.4})",
            system.name
        ));
        if accuracy + 1e-9 < published {
            short.push(system.name);
            let templates = ground_truth(system);
            report.extend(wrong_groups(&messages, &templates, &truth, &predicted));
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        short.is_empty(),
        "below the published figure: {short:?}\n{}",
        report.join("\n")
    );
}

#[test]
fn grouping_accuracy_counts_only_exact_groups() {
    // Truth {0,1} {2} {3,4}; prediction splits {0,1} and merges {2} into {3,4}.
    assert_eq!(grouping_accuracy(&[0, 0, 1, 2, 2], &[1, 2, 3, 3, 3]), 0.0);
    assert_eq!(grouping_accuracy(&[0, 0, 1, 2, 2], &[7, 7, 8, 9, 9]), 1.0);
    assert_eq!(grouping_accuracy(&[0, 0, 1, 2, 2], &[7, 7, 8, 8, 9]), 0.4);
}

#[test]
fn ground_truth_matching_is_whole_message_with_non_empty_wildcards() {
    let re = |t: &str| Regex::new(&template_regex(t)).expect("compiles");
    let received = re("Receiving block <*> src: /<*> dest: /<*>");
    assert!(received.is_match("Receiving block blk_1 src: /10.0.0.1:1 dest:  /10.0.0.2:2"));
    assert!(!received.is_match("Receiving block blk_1 src: / dest: /10.0.0.2:2"));
    assert!(!received.is_match("Receiving block blk_1 src: /a dest: /b extra"));
    // `<*>` is one token at most, `<+>` one or more.
    let failed = re("Failed password for <*> from <*> port <*> ssh2");
    assert!(failed.is_match("Failed password for root from 1.2.3.4 port 22 ssh2"));
    assert!(!failed.is_match("Failed password for invalid user x from 1.2.3.4 port 22 ssh2"));
    let delete = re("BLOCK* ask <*> to delete <+>");
    assert!(delete.is_match("BLOCK* ask 10.0.0.1:50010 to delete blk_1 blk_2 blk_3"));
    assert!(delete.is_match("BLOCK* ask 10.0.0.1:50010 to delete blk_1"));
    assert!(!delete.is_match("BLOCK* ask 10.0.0.1:50010 to delete "));
}

#[test]
fn ids_after_save_and_load_mid_stream_equal_an_uninterrupted_run() {
    for system in &SYSTEMS {
        let messages = system.contents();
        let uninterrupted = mine(system, &messages);
        let config = MinerConfig::for_preset(system.preset).expect("preset exists");
        let mut miner = Miner::new(config).expect("preset is valid");
        let mut ids = Vec::new();
        for (i, chunk) in messages.chunks(700).enumerate() {
            if i > 0 {
                let mut state = Vec::new();
                miner.save(&mut state).expect("save");
                miner = Miner::load(&mut state.as_slice()).expect("load");
            }
            ids.extend(chunk.iter().map(|m| miner.add(m).id));
        }
        assert_eq!(ids, uninterrupted, "{}", system.name);
    }
}

#[test]
fn mining_throughput_is_printed() {
    let mut total_lines = 0usize;
    let mut total_secs = 0f64;
    let mut report = Vec::new();
    for system in &SYSTEMS {
        let messages = system.contents();
        let config = MinerConfig::for_preset(system.preset).expect("preset exists");
        // Best of a few runs, each on a fresh miner (the first run creates
        // the templates, as a real stream does).
        let mut best = f64::MAX;
        let mut templates = 0;
        for _ in 0..5 {
            let mut miner = Miner::new(config.clone()).expect("preset is valid");
            let start = Instant::now();
            for m in &messages {
                std::hint::black_box(miner.add(m).id);
            }
            best = best.min(start.elapsed().as_secs_f64());
            templates = miner.len();
        }
        assert!(
            templates > 0 && templates < messages.len(),
            "{}",
            system.name
        );
        total_lines += messages.len();
        total_secs += best;
        report.push(format!(
            "{:<10} {:>10.0} lines/s ({templates} templates)",
            system.name,
            messages.len() as f64 / best
        ));
    }
    report.push(format!(
        "all six   {:>10.0} lines/s",
        total_lines as f64 / total_secs
    ));
    println!("{}", report.join("\n"));
}
