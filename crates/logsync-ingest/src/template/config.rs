//! Miner settings: the Drain parameters, the masks and the per-format presets.

use super::TemplateError;

/// Deepest tree the miner accepts; deeper trees only cost memory and time.
pub const MAX_DEPTH: u32 = 32;

/// Settings of a [`Miner`](super::Miner).
///
/// The names follow the Drain paper (He et al., ICWS 2017) and LogPAI's
/// implementation: `depth` counts every level of the prefix tree, the root and
/// the leaves included, so `depth = 4` routes a message by its token count and
/// its first token.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerConfig {
    /// Similarity threshold `st` in `[0, 1]`: a message joins the most similar
    /// template of its leaf only if at least this fraction of its tokens equal
    /// the template's non-wildcard tokens at the same positions. Default 0.5.
    pub similarity_threshold: f64,
    /// Depth of the prefix tree, root and leaves included, at least 3 (only the
    /// token count routes) and at most [`MAX_DEPTH`]. Default 4.
    pub depth: u32,
    /// Most children a tree node may have (a wildcard child included) before
    /// new tokens share the wildcard branch. At least 2. Default 100.
    pub max_children: u32,
    /// Most templates the miner creates, at least 1. Once it holds this
    /// many, a message that matches none of them gets [`Match::id`] 0
    /// instead of a new template, so that memory stays bounded on input that
    /// masks do not tame. Default 100,000.
    ///
    /// [`Match::id`]: super::Match::id
    pub max_templates: u32,
    /// Regexes whose matches are replaced by `<*>` before tokenizing, applied
    /// one after the other in this order. Default [`MinerConfig::DEFAULT_MASKS`].
    pub masks: Vec<String>,
    /// Characters that separate tokens in addition to whitespace (whitespace
    /// always does). Default none.
    pub delimiters: Vec<char>,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            similarity_threshold: 0.5,
            depth: 4,
            max_children: 100,
            max_templates: 100_000,
            masks: Self::DEFAULT_MASKS
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            delimiters: Vec::new(),
        }
    }
}

/// Names accepted by [`MinerConfig::for_preset`].
pub const PRESETS: [&str; 6] = ["hdfs", "bgl", "zookeeper", "openssh", "apache", "spark"];

// IPv4 address, optionally with a port.
const IPV4_PORT: &str = r"(\d{1,3}\.){3}\d{1,3}(:\d+)?";
// Dotted names with three or more parts (host names, Java classes' packages).
const DOTTED_NAME: &str = r"([\w-]+\.){2,}[\w-]+";

impl MinerConfig {
    /// Masks used when no preset is given: HDFS block ids, IPv4 addresses
    /// (with port), hexadecimal numbers and whole-word decimal numbers.
    pub const DEFAULT_MASKS: [&'static str; 4] = [
        r"blk_-?\d+",
        IPV4_PORT,
        r"\b0[xX][0-9a-fA-F]+\b",
        r"\b\d+(\.\d+)?\b",
    ];

    /// Settings for a built-in log format (one of [`PRESETS`]), or `None` for
    /// an unknown name. They are the per-dataset settings of LogPAI's Drain
    /// benchmark: which ids to mask, `st` and `depth`.
    pub fn for_preset(name: &str) -> Option<MinerConfig> {
        let (masks, similarity_threshold, depth): (&[&str], f64, u32) = match name {
            "hdfs" => (&[r"blk_-?\d+", IPV4_PORT], 0.5, 4),
            "bgl" => (&[r"core\.\d+"], 0.5, 4),
            "zookeeper" => (&[r"/?(\d+\.){3}\d+(:\d+)?"], 0.5, 4),
            "openssh" => (&[r"(\d+\.){3}\d+", DOTTED_NAME], 0.6, 5),
            "apache" => (&[r"(\d+\.){3}\d+"], 0.5, 4),
            "spark" => (&[r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", DOTTED_NAME], 0.5, 4),
            _ => return None,
        };
        Some(MinerConfig {
            similarity_threshold,
            depth,
            masks: masks.iter().map(|m| (*m).to_owned()).collect(),
            ..MinerConfig::default()
        })
    }

    /// Checks the numeric settings and the delimiters (the masks are checked
    /// when a [`Miner`](super::Miner) compiles them).
    ///
    /// # Errors
    /// [`TemplateError::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), TemplateError> {
        let st = self.similarity_threshold;
        if !(0.0..=1.0).contains(&st) {
            return Err(invalid(
                "similarity_threshold",
                format!("{st} is not in [0, 1]"),
            ));
        }
        if !(3..=MAX_DEPTH).contains(&self.depth) {
            return Err(invalid(
                "depth",
                format!("{} is not in [3, {MAX_DEPTH}]", self.depth),
            ));
        }
        if self.max_children < 2 {
            return Err(invalid(
                "max_children",
                format!("{} is less than 2", self.max_children),
            ));
        }
        if self.max_templates == 0 {
            return Err(invalid("max_templates", "0 is less than 1".to_owned()));
        }
        if let Some(c) = self
            .delimiters
            .iter()
            .find(|c| c.is_whitespace() || **c == '\0')
        {
            return Err(invalid(
                "delimiters",
                format!("{c:?} is whitespace or NUL (whitespace always separates tokens)"),
            ));
        }
        Ok(())
    }
}

fn invalid(setting: &'static str, reason: String) -> TemplateError {
    TemplateError::InvalidConfig { setting, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_name_has_valid_settings() {
        for name in PRESETS {
            let config = MinerConfig::for_preset(name).expect("preset exists");
            config.validate().expect("preset is valid");
        }
        assert!(MinerConfig::for_preset("nope").is_none());
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let bad = MinerConfig {
            similarity_threshold: 1.5,
            ..MinerConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(TemplateError::InvalidConfig {
                setting: "similarity_threshold",
                ..
            })
        ));
        let bad = MinerConfig {
            depth: 2,
            ..MinerConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(TemplateError::InvalidConfig {
                setting: "depth",
                ..
            })
        ));
        let bad = MinerConfig {
            max_templates: 0,
            ..MinerConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(TemplateError::InvalidConfig {
                setting: "max_templates",
                ..
            })
        ));
        let bad = MinerConfig {
            delimiters: vec![' '],
            ..MinerConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(TemplateError::InvalidConfig {
                setting: "delimiters",
                ..
            })
        ));
    }
}
