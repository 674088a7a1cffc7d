//! Arbitrary input never panics the parser, and what it returns stays
//! inside the line: random bytes, sample lines with random damage, random
//! format strings.

use logsync_ingest::format::preset::PRESETS;
use logsync_ingest::{Format, Parser, ParserConfig, Zone};
use proptest::prelude::*;

fn parsers() -> Vec<Parser> {
    PRESETS
        .iter()
        .map(|p| {
            let config = ParserConfig {
                zone: Zone::named("America/Los_Angeles").expect("tz"),
                year: Some(2015),
                ..ParserConfig::default()
            };
            Parser::new(Format::from_spec(p.name).expect("preset"), config).expect("parser")
        })
        .collect()
}

const GOOD: [&str; 3] = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
    "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
    "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
];

fn check(parsers: &mut [Parser], bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for p in parsers.iter_mut() {
        if let Ok(e) = p.parse(1, &text, false) {
            let range = text.as_ptr() as usize..=text.as_ptr() as usize + text.len();
            for (_, v) in e.fields() {
                assert!(range.contains(&(v.as_ptr() as usize)));
                assert!(range.contains(&(v.as_ptr() as usize + v.len())));
            }
            let mut json = String::new();
            e.write_json(&mut json, None);
            assert!(json.starts_with("{\"line\":1,"));
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&mut parsers(), &bytes);
    }

    #[test]
    fn damaged_sample_lines_never_panic(
        which in 0..GOOD.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = GOOD[which].as_bytes().to_vec();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        check(&mut parsers(), &bytes);
    }

    #[test]
    fn random_format_strings_compile_or_fail_cleanly(
        spec in "[<>A-Za-z \\\\:\\[\\]|-]{0,40}",
        line in "[A-Za-z0-9 :\\[\\]|-]{0,80}",
    ) {
        if let Ok(f) = Format::from_spec(&spec) {
            let fields = f.field_names().len();
            let mut p = Parser::new(f, ParserConfig::default()).expect("parser");
            if let Ok(e) = p.parse(1, &line, false) {
                prop_assert_eq!(e.fields().count(), fields);
                let joined: usize = e.fields().map(|(_, v)| v.len()).sum();
                prop_assert!(joined <= line.len());
            }
        }
    }
}
