//! The built-in formats: LogHub's format string for each system, its
//! timestamp layout and its default compaction key.
//!
//! | preset | default key | why |
//! | --- | --- | --- |
//! | `hdfs` | first block id `blk_-?[0-9]+` in the message | an HDFS event is about a block |
//! | `bgl` | `Node` | the latest event of each node |
//! | `zookeeper` | `Component` | the latest event of each server component |
//! | `openssh` | `Pid` | one sshd process is one connection |
//! | `apache` | `Level` | the error log names no subject; `--key-regex` can pick one |
//! | `spark` | `Component` | the latest event of each component |

use super::{DefaultKey, Format, Pattern, TimeSpec, roles_of};
use crate::Result;
use crate::timestamp::TimeLayout;

/// A built-in format.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Name on the command line.
    pub name: &'static str,
    /// LogHub's format string.
    pub format: &'static str,
    /// Timestamp layout.
    pub layout: TimeLayout,
    /// Default key: `None` for the HDFS block id, else a field name (`""`: none).
    pub key_field: Option<&'static str>,
}

/// Every preset.
pub const PRESETS: [Preset; 6] = [
    Preset {
        name: "hdfs",
        format: "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        layout: TimeLayout::CompactYyMmDd,
        key_field: None,
    },
    Preset {
        name: "bgl",
        format: "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
        layout: TimeLayout::DashedDotted,
        key_field: Some("Node"),
    },
    Preset {
        name: "zookeeper",
        format: r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        layout: TimeLayout::IsoDateTime,
        key_field: Some("Component"),
    },
    Preset {
        name: "openssh",
        format: r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
        layout: TimeLayout::Syslog,
        key_field: Some("Pid"),
    },
    Preset {
        name: "apache",
        format: r"\[<Time>\] \[<Level>\] <Content>",
        layout: TimeLayout::Ctime,
        key_field: Some("Level"),
    },
    Preset {
        name: "spark",
        format: "<Date> <Time> <Level> <Component>: <Content>",
        layout: TimeLayout::SlashYyMmDd,
        key_field: Some("Component"),
    },
];

/// The preset called `name` (ASCII case-insensitive).
#[must_use]
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Preset {
    /// The compiled format.
    ///
    /// # Errors
    /// Never for the built-in presets (their strings are tested); the
    /// signature is that of [`Pattern::compile`].
    pub fn format(&self) -> Result<Format> {
        let pattern = Pattern::compile(self.format)?;
        let time_fields: Vec<usize> = self
            .layout
            .field_names()
            .iter()
            .filter_map(|n| pattern.index_of(n))
            .collect();
        let default_key = match self.key_field {
            None => DefaultKey::BlockId,
            Some(name) => pattern
                .index_of(name)
                .map_or(DefaultKey::None, DefaultKey::Field),
        };
        Ok(Format {
            name: self.name.to_owned(),
            source: self.format.to_owned(),
            roles: roles_of(&pattern),
            time: TimeSpec::Fixed(self.layout, time_fields),
            default_key,
            pattern,
        })
    }
}
