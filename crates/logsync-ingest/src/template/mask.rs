//! Preprocessing: variable parts (ids, addresses, numbers) become `<*>` before
//! the message is split into tokens.

use regex::Regex;

use super::TemplateError;

/// The text that replaces a masked span, and the wildcard of a template.
pub const WILDCARD: &str = "<*>";

/// An ordered list of compiled mask regexes.
#[derive(Debug, Clone)]
pub(crate) struct Masker {
    regexes: Vec<Regex>,
}

impl Masker {
    /// Compiles `patterns`, in order.
    pub(crate) fn new(patterns: &[String]) -> Result<Self, TemplateError> {
        let regexes = patterns
            .iter()
            .map(|p| {
                let re = Regex::new(p).map_err(|source| TemplateError::BadMask {
                    pattern: p.clone(),
                    source,
                })?;
                // A mask that matches the empty string would put `<*>` between
                // every two characters.
                if re.is_match("") {
                    return Err(TemplateError::InvalidConfig {
                        setting: "masks",
                        reason: format!("mask {p:?} matches the empty string"),
                    });
                }
                Ok(re)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { regexes })
    }

    /// Replaces every match of each regex (one regex after the other, each on
    /// the previous one's output) by [`WILDCARD`]. Returns `input` itself when
    /// nothing matched; otherwise the result lives in `a` (`b` is scratch).
    /// Both buffers are reused from call to call, so masking allocates nothing
    /// once they have grown to the longest line.
    pub(crate) fn apply<'s>(&self, input: &'s str, a: &'s mut String, b: &mut String) -> &'s str {
        let mut masked = false;
        for re in &self.regexes {
            let src: &str = if masked { a.as_str() } else { input };
            let mut matches = re.find_iter(src).peekable();
            if matches.peek().is_none() {
                continue;
            }
            b.clear();
            let mut last = 0;
            for m in matches {
                b.push_str(src.get(last..m.start()).unwrap_or_default());
                b.push_str(WILDCARD);
                last = m.end();
            }
            b.push_str(src.get(last..).unwrap_or_default());
            std::mem::swap(a, b);
            masked = true;
        }
        if masked { a.as_str() } else { input }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::MinerConfig;

    fn mask(patterns: &[&str], input: &str) -> String {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let masker = Masker::new(&patterns).expect("masks compile");
        let (mut a, mut b) = (String::new(), String::new());
        masker.apply(input, &mut a, &mut b).to_owned()
    }

    #[test]
    fn default_masks_hide_block_ids_addresses_and_numbers() {
        let defaults: Vec<&str> = MinerConfig::DEFAULT_MASKS.to_vec();
        assert_eq!(
            mask(
                &defaults,
                "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010"
            ),
            "Receiving block <*> src: /<*> dest: /<*>"
        );
        assert_eq!(
            mask(&defaults, "took 12 ms at 0x1f3A, ratio 0.75, id job_12"),
            "took <*> ms at <*>, ratio <*>, id job_12"
        );
        // Numbers inside words (node names) stay; dates keep their dashes.
        assert_eq!(
            mask(&defaults, "R02-M1-N0 at 2005-06-03 boot = -3"),
            "R02-M1-N0 at <*>-<*>-<*> boot = -<*>"
        );
    }

    #[test]
    fn masks_apply_in_order_each_on_the_previous_output() {
        // The second mask only matches once the first has produced `<*>`.
        assert_eq!(
            mask(&[r"\d+", r"<\*>-<\*>"], "range 10-20 and 7"),
            "range <*> and <*>"
        );
        // Nothing matched: the input comes back untouched.
        assert_eq!(mask(&[r"\d+"], "no digits here"), "no digits here");
    }

    #[test]
    fn a_mask_matching_the_empty_string_is_refused() {
        let err = Masker::new(&["x*".to_owned()]).expect_err("empty match refused");
        assert!(matches!(
            err,
            TemplateError::InvalidConfig {
                setting: "masks",
                ..
            }
        ));
        let err = Masker::new(&["(".to_owned()]).expect_err("bad regex refused");
        assert!(matches!(err, TemplateError::BadMask { .. }));
    }
}
