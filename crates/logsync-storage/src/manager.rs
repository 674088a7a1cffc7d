//! Topics in a data directory: `<data-dir>/<topic>-<partition>/` holds each
//! partition's log, as in Kafka; `<data-dir>/.topics/<topic>.properties`
//! holds the partition count and the topic's config.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, OpenMode, StdFs, read_up_to, write_atomic};
use crate::log::{LOCK_FILE, Log};

const TOPICS_DIR: &str = ".topics";
/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Upper bound on partitions per topic accepted here.
pub const MAX_PARTITIONS: u32 = 10_000;

/// A topic's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Config applied to every partition's log.
    pub config: LogConfig,
}

/// Checks a topic name by Kafka's rules.
///
/// # Errors
/// [`Error::InvalidTopic`] saying why.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidTopic {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return bad("longer than 249 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// The topics of one data directory.
#[derive(Debug, Clone)]
pub struct LogManager {
    data_dir: PathBuf,
    fs: Arc<dyn FileSystem>,
}

impl LogManager {
    /// A manager for `data_dir` on the real file system (nothing is opened yet).
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self::with_fs(data_dir, Arc::new(StdFs))
    }

    /// A manager over any [`FileSystem`].
    #[must_use]
    pub fn with_fs(data_dir: impl Into<PathBuf>, fs: Arc<dyn FileSystem>) -> Self {
        LogManager {
            data_dir: data_dir.into(),
            fs,
        }
    }

    /// The data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.data_dir
            .join(TOPICS_DIR)
            .join(format!("{name}.properties"))
    }

    /// Directory of one partition.
    #[must_use]
    pub fn partition_dir(&self, topic: &str, partition: u32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    fn write_meta(&self, info: &TopicInfo) -> Result<()> {
        let dir = self.data_dir.join(TOPICS_DIR);
        if !self.fs.exists(&dir) {
            self.fs
                .create_dir_all(&dir)
                .map_err(|e| Error::io("create", &dir, e))?;
            // The new directory's name must be durable before a metadata
            // file in it can be.
            self.fs
                .sync_dir(&self.data_dir)
                .map_err(|e| Error::io("fsync", &self.data_dir, e))?;
        }
        let text = format!(
            "partitions={}\n{}",
            info.partitions,
            info.config.to_properties()
        );
        let path = self.meta_path(&info.name);
        write_atomic(self.fs.as_ref(), &path, text.as_bytes())
            .map_err(|e| Error::io("write", &path, e))
    }

    /// Creates a topic and its partition directories.
    ///
    /// # Errors
    /// [`Error::InvalidTopic`], [`Error::TopicExists`], [`Error::InvalidConfig`], I/O errors.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: LogConfig,
    ) -> Result<TopicInfo> {
        validate_topic_name(name)?;
        config.validate()?;
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidConfig {
                key: "partitions".into(),
                value: partitions.to_string(),
                reason: format!("must be between 1 and {MAX_PARTITIONS}"),
            });
        }
        if self.fs.exists(&self.meta_path(name)) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let info = TopicInfo {
            name: name.to_owned(),
            partitions,
            config,
        };
        for p in 0..partitions {
            self.clear_orphan_partition(&self.partition_dir(name, p))?;
            Log::open_with(
                self.partition_dir(name, p),
                info.config.clone(),
                Arc::clone(&self.fs),
            )?
            .close()?;
        }
        self.fs
            .sync_dir(&self.data_dir)
            .map_err(|e| Error::io("fsync", &self.data_dir, e))?;
        // The metadata file last: a crash before it leaves no half topic visible.
        self.write_meta(&info)?;
        Ok(info)
    }

    /// Empties a partition directory left by a topic that no longer has a
    /// metadata file (`delete_topic` removes the metadata first, so a crash
    /// part-way leaves its data behind): a new topic of the same name must
    /// not inherit those records. The lock file stays, so that the lock
    /// keeps meaning one inode.
    fn clear_orphan_partition(&self, dir: &Path) -> Result<()> {
        if !self.fs.exists(dir) {
            return Ok(());
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = crate::log::lock_partition(self.fs.as_ref(), &lock_path)?;
        let files = self
            .fs
            .read_dir(dir)
            .map_err(|e| Error::io("list", dir, e))?;
        for path in files.iter().filter(|p| **p != lock_path) {
            tracing::warn!(path = %path.display(), "removing data of a deleted topic");
            self.fs
                .remove_file(path)
                .map_err(|e| Error::io("remove", path, e))?;
        }
        self.fs
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync", dir, e))?;
        drop(lock);
        Ok(())
    }

    /// A topic's metadata.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], or a damaged metadata file.
    pub fn topic(&self, name: &str) -> Result<TopicInfo> {
        validate_topic_name(name)?;
        let path = self.meta_path(name);
        let file = self.fs.open(&path, OpenMode::Read).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::UnknownTopic(name.to_owned())
            } else {
                Error::io("open", &path, e)
            }
        })?;
        let mut buf = vec![0u8; 64 * 1024];
        let n = read_up_to(file.as_ref(), &mut buf, 0).map_err(|e| Error::io("read", &path, e))?;
        buf.truncate(n);
        let text = String::from_utf8_lossy(&buf);
        let mut partitions = None;
        let mut rest = String::new();
        for line in text.lines() {
            match line.trim().strip_prefix("partitions=") {
                Some(v) => partitions = v.trim().parse::<u32>().ok(),
                None => {
                    rest.push_str(line);
                    rest.push('\n');
                }
            }
        }
        let partitions = partitions
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::InvalidConfig {
                key: "partitions".into(),
                value: String::new(),
                reason: format!("missing or invalid in {}", path.display()),
            })?;
        Ok(TopicInfo {
            name: name.to_owned(),
            partitions,
            config: LogConfig::from_properties(&rest)?,
        })
    }

    /// Every topic, sorted by name.
    ///
    /// # Errors
    /// I/O errors or a damaged metadata file.
    pub fn topics(&self) -> Result<Vec<TopicInfo>> {
        let dir = self.data_dir.join(TOPICS_DIR);
        if !self.fs.exists(&dir) {
            return Ok(Vec::new());
        }
        let entries = self
            .fs
            .read_dir(&dir)
            .map_err(|e| Error::io("list", &dir, e))?;
        // `*.tmp`: a metadata write whose rename never happened (a crash in
        // `write_atomic`); the file it was replacing is intact.
        for tmp in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        {
            self.fs
                .remove_file(tmp)
                .map_err(|e| Error::io("remove", tmp, e))?;
        }
        let mut names: Vec<String> = entries
            .iter()
            .filter_map(|p| {
                p.file_name()?
                    .to_str()?
                    .strip_suffix(".properties")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names.iter().map(|n| self.topic(n)).collect()
    }

    /// Opens one partition's log (taking its lock).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`], and as [`Log::open`].
    pub fn open_partition(&self, topic: &str, partition: u32) -> Result<Log> {
        let info = self.topic(topic)?;
        if partition >= info.partitions {
            return Err(Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: info.partitions,
            });
        }
        Log::open_with(
            self.partition_dir(topic, partition),
            info.config,
            Arc::clone(&self.fs),
        )
    }

    /// Changes one config key of a topic (applies at the next open).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::InvalidConfig`], I/O errors.
    pub fn set_config(&self, topic: &str, key: &str, value: &str) -> Result<TopicInfo> {
        let mut info = self.topic(topic)?;
        info.config.set(key, value)?;
        self.write_meta(&info)?;
        Ok(info)
    }

    /// Changes several config keys of a topic at once: all are checked
    /// first, then stored together (applies at the next open, or through
    /// [`crate::Log::set_config`] on an open log).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::InvalidConfig`] naming the first bad
    /// key (nothing is stored then), I/O errors.
    pub fn set_configs(&self, topic: &str, pairs: &[(String, String)]) -> Result<TopicInfo> {
        let mut info = self.topic(topic)?;
        for (k, v) in pairs {
            info.config.set(k, v)?;
        }
        self.write_meta(&info)?;
        Ok(info)
    }

    /// Deletes a topic and all its data. Fails with [`Error::Locked`] while any
    /// partition is open elsewhere.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::Locked`], I/O errors.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let info = self.topic(name)?;
        let mut locks = Vec::new();
        for p in 0..info.partitions {
            let dir = self.partition_dir(name, p);
            if self.fs.exists(&dir) {
                let lock_path = dir.join(LOCK_FILE);
                let lock = crate::log::lock_partition(self.fs.as_ref(), &lock_path)?;
                locks.push((dir, lock));
            }
        }
        let meta = self.meta_path(name);
        self.fs
            .remove_file(&meta)
            .map_err(|e| Error::io("remove", &meta, e))?;
        if let Some(parent) = meta.parent() {
            self.fs
                .sync_dir(parent)
                .map_err(|e| Error::io("fsync", parent, e))?;
        }
        for (dir, lock) in locks {
            for path in self
                .fs
                .read_dir(&dir)
                .map_err(|e| Error::io("list", &dir, e))?
            {
                self.fs
                    .remove_file(&path)
                    .map_err(|e| Error::io("remove", &path, e))?;
            }
            drop(lock);
            self.fs
                .remove_dir(&dir)
                .map_err(|e| Error::io("remove", &dir, e))?;
        }
        self.fs
            .sync_dir(&self.data_dir)
            .map_err(|e| Error::io("fsync", &self.data_dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_topic_does_not_reuse_data_left_by_a_half_deleted_topic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = LogManager::new(dir.path());
        m.create_topic("events", 2, LogConfig::default())
            .expect("create");
        for p in 0..2 {
            let log = m.open_partition("events", p).expect("open");
            log.append_records(&[crate::Record::new(None, b"old", crate::TimestampMs(1))])
                .expect("append");
            log.close().expect("close");
        }
        // A crash in delete_topic after the metadata file went.
        std::fs::remove_file(dir.path().join(TOPICS_DIR).join("events.properties"))
            .expect("remove metadata");
        assert!(m.topics().expect("topics").is_empty());
        m.create_topic("events", 2, LogConfig::default())
            .expect("create again");
        for p in 0..2 {
            let log = m.open_partition("events", p).expect("open");
            assert_eq!(log.log_end_offset(), crate::Offset(0), "partition {p}");
        }
    }

    #[test]
    fn listing_topics_removes_leftover_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = LogManager::new(dir.path());
        m.create_topic("a", 1, LogConfig::default())
            .expect("create");
        let tmp = dir.path().join(TOPICS_DIR).join("a.properties.tmp");
        std::fs::write(&tmp, b"partitions=").expect("write");
        let names: Vec<String> = m
            .topics()
            .expect("topics")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, vec!["a".to_owned()]);
        assert!(!tmp.exists(), "leftover removed");
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "events.v1", "A_b-c", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }
}
