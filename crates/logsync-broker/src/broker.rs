//! Broker state shared by every connection: the topics of the data
//! directory, the open partition logs, and the signal that wakes fetches
//! waiting for new data.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use logsync_storage::maintenance::{Maintenance, Schedule};
use logsync_storage::{Error as StorageError, Log, LogConfig, LogManager, TopicInfo};
use tokio::sync::watch;

use crate::groups::{GroupConfig, GroupCoordinator};

/// Settings of a broker (Kafka's key names in the docs; the TOML file and
/// the `serve` flags fill this).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to listen on (`listeners`); loopback by default.
    pub listen: SocketAddr,
    /// Data directory (`log.dirs`).
    pub data_dir: PathBuf,
    /// `socket.request.max.bytes`: the largest request frame.
    pub max_request_bytes: u32,
    /// The largest frame a connection may send before its first valid request.
    pub first_request_max_bytes: u32,
    /// `max.connections`.
    pub max_connections: usize,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic.
    pub default_partitions: u32,
    /// Topic defaults (`log.segment.bytes` ...), for created topics.
    pub topic_defaults: LogConfig,
    /// `node.id` served in Metadata.
    pub node_id: i32,
    /// `advertised.listeners`: the address clients are told to connect to
    /// (default: the bound address).
    pub advertised: Option<SocketAddr>,
    /// Address of the `/metrics` and `/health` endpoint (none by default).
    pub metrics: Option<SocketAddr>,
    /// `log.cleaner.backoff.ms` / `log.retention.check.interval.ms`: how
    /// often retention and the cleaner look at each partition.
    pub maintenance_interval: std::time::Duration,
    /// `fetch.verify.crc` (logsync's own; default false): check the CRC of
    /// every batch a Fetch serves. Kafka's broker does not: each batch was
    /// checked when it was appended (or at recovery), and consumers check
    /// it again (the Java client's `check.crcs`). Headers, lengths and the
    /// offset chain of served batches are checked either way.
    pub fetch_verify_crc: bool,
}

impl BrokerConfig {
    /// Defaults on `data_dir`, listening on 127.0.0.1:9092.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            data_dir: data_dir.into(),
            max_request_bytes: 100 << 20,
            first_request_max_bytes: 1 << 20,
            max_connections: 10_000,
            auto_create_topics: true,
            default_partitions: 1,
            topic_defaults: LogConfig::default(),
            node_id: 0,
            advertised: None,
            metrics: None,
            maintenance_interval: std::time::Duration::from_secs(15),
            fetch_verify_crc: false,
        }
    }
}

/// One open partition.
#[derive(Debug)]
pub struct Partition {
    /// Its log.
    pub log: Arc<Log>,
    /// Idempotent producers' sequence state, rebuilt from the log on first
    /// use; the lock also orders check-then-append of idempotent batches.
    pub producers: tokio::sync::Mutex<Option<crate::producers::PartitionProducers>>,
}

/// The broker's shared state.
#[derive(Debug)]
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    /// The address actually bound (port 0 resolved), served in Metadata.
    pub advertised: SocketAddr,
    manager: LogManager,
    topics: RwLock<HashMap<String, TopicInfo>>,
    partitions: Mutex<HashMap<(String, u32), Arc<Partition>>>,
    /// Bumped after every append: fetches waiting for data watch it.
    appended: watch::Sender<u64>,
    maintenance: Maintenance,
    /// Request, byte and connection counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Producer ids for InitProducerId.
    pub producer_ids: crate::producers::ProducerIds,
    /// Consumer groups and their committed offsets (replayed from
    /// `__consumer_offsets` by [`Broker::open`]).
    pub groups: Arc<GroupCoordinator>,
    /// The bound address of the metrics and admin endpoint, once it listens
    /// (DescribeConfigs of the broker reports it as `logsync.admin.listener`).
    pub admin_addr: std::sync::OnceLock<SocketAddr>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Broker {
    /// Loads the topics of the data directory (partitions open on first use)
    /// and the committed offsets of consumer groups (creating the internal
    /// topic `__consumer_offsets` if missing). Blocking.
    ///
    /// # Errors
    /// The data directory cannot be read, the maintenance thread not
    /// started, or the offsets topic not created or read.
    pub fn open(config: BrokerConfig, advertised: SocketAddr) -> Result<Broker, StorageError> {
        let manager = LogManager::new(&config.data_dir);
        let config_dir = config.data_dir.clone();
        let topics = manager
            .topics()?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let maintenance = Maintenance::start(Schedule {
            check_every: config.maintenance_interval,
            ..Schedule::default()
        })
        .map_err(|e| StorageError::io("start maintenance thread for", &config.data_dir, e))?;
        let broker = Broker {
            config,
            advertised,
            manager,
            topics: RwLock::new(topics),
            partitions: Mutex::new(HashMap::new()),
            appended: watch::channel(0).0,
            maintenance,
            metrics: crate::metrics::Metrics::default(),
            producer_ids: crate::producers::ProducerIds::open(&config_dir)
                .map_err(|e| StorageError::io("read", config_dir.join(".producer-ids"), e))?,
            groups: Arc::new(GroupCoordinator::new(GroupConfig::default())),
            admin_addr: std::sync::OnceLock::new(),
        };
        broker.groups.offsets().load(&broker)?;
        Ok(broker)
    }

    /// A topic's metadata, if it exists.
    #[must_use]
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every topic, by name.
    #[must_use]
    pub fn topics(&self) -> Vec<TopicInfo> {
        let mut all: Vec<TopicInfo> = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Creates a topic.
    ///
    /// # Errors
    /// As [`LogManager::create_topic`].
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: LogConfig,
    ) -> Result<TopicInfo, StorageError> {
        let info = self.manager.create_topic(name, partitions, config)?;
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info.name.clone(), info.clone());
        tracing::info!(topic = %info.name, partitions = info.partitions, "created topic");
        Ok(info)
    }

    /// The topic, auto-created with the defaults if missing and allowed.
    ///
    /// # Errors
    /// [`StorageError::UnknownTopic`] when missing and not auto-created, or
    /// the creation's error.
    pub fn topic_or_create(&self, name: &str, allow: bool) -> Result<TopicInfo, StorageError> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        if !(allow && self.config.auto_create_topics) {
            return Err(StorageError::UnknownTopic(name.to_owned()));
        }
        match self.create_topic(
            name,
            self.config.default_partitions,
            self.config.topic_defaults.clone(),
        ) {
            Err(StorageError::TopicExists(_)) => self
                .topic(name)
                .ok_or_else(|| StorageError::UnknownTopic(name.to_owned())),
            other => other,
        }
    }

    /// Deletes a topic: closes its open partitions, then removes its data.
    ///
    /// # Errors
    /// [`StorageError::UnknownTopic`], I/O errors.
    pub fn delete_topic(&self, name: &str) -> Result<(), StorageError> {
        if self.topic(name).is_none() {
            return Err(StorageError::UnknownTopic(name.to_owned()));
        }
        let open: Vec<Arc<Partition>> = {
            let mut parts = lock(&self.partitions);
            let keys: Vec<(String, u32)> =
                parts.keys().filter(|(t, _)| t == name).cloned().collect();
            keys.iter().filter_map(|k| parts.remove(k)).collect()
        };
        for p in open {
            p.log.close()?;
        }
        self.manager.delete_topic(name)?;
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// An open partition (opened on first use).
    ///
    /// # Errors
    /// [`StorageError::UnknownTopic`], [`StorageError::UnknownPartition`],
    /// errors opening the log.
    pub fn partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, StorageError> {
        let info = self
            .topic(topic)
            .ok_or_else(|| StorageError::UnknownTopic(topic.to_owned()))?;
        let p = u32::try_from(index)
            .ok()
            .filter(|&p| p < info.partitions)
            .ok_or_else(|| StorageError::UnknownPartition {
                topic: topic.to_owned(),
                partition: index.max(0).unsigned_abs(),
                partitions: info.partitions,
            })?;
        let mut parts = lock(&self.partitions);
        if let Some(open) = parts.get(&(topic.to_owned(), p)) {
            return Ok(Arc::clone(open));
        }
        let log = Arc::new(self.manager.open_partition(topic, p)?);
        self.maintenance.add(Arc::clone(&log));
        let part = Arc::new(Partition {
            log,
            producers: tokio::sync::Mutex::new(None),
        });
        parts.insert((topic.to_owned(), p), Arc::clone(&part));
        Ok(part)
    }

    /// Changes topic configs: stored in the topic's properties and applied
    /// to its open partitions at once.
    ///
    /// # Errors
    /// [`StorageError::UnknownTopic`], [`StorageError::InvalidConfig`], I/O errors.
    pub fn alter_topic_config(
        &self,
        topic: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StorageError> {
        let info = self.manager.set_configs(topic, pairs)?;
        let open: Vec<Arc<Partition>> = lock(&self.partitions)
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, p)| Arc::clone(p))
            .collect();
        for p in open {
            p.log.set_config(info.config.clone())?;
        }
        tracing::info!(topic, changes = ?pairs, "altered topic config");
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info.name.clone(), info);
        Ok(())
    }

    /// Every open partition: topic, index, partition.
    #[must_use]
    pub fn open_partitions(&self) -> Vec<(String, u32, Arc<Partition>)> {
        let mut v: Vec<(String, u32, Arc<Partition>)> = lock(&self.partitions)
            .iter()
            .map(|((t, p), part)| (t.clone(), *p, Arc::clone(part)))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v
    }

    /// What retention and the cleaner have done.
    #[must_use]
    pub fn maintenance_activity(&self) -> &logsync_storage::maintenance::Activity {
        self.maintenance.activity()
    }

    /// Wakes fetches waiting for new data.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes after each append.
    #[must_use]
    pub fn watch_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Flushes and closes every open partition (graceful shutdown).
    ///
    /// # Errors
    /// The first close that failed (the others are still closed).
    pub fn close(&self) -> Result<(), StorageError> {
        let open: Vec<Arc<Partition>> = lock(&self.partitions).drain().map(|(_, p)| p).collect();
        let mut result = Ok(());
        for p in open {
            let r = p.log.flush().and_then(|()| p.log.close());
            if let Err(e) = r {
                tracing::error!(dir = %p.log.dir().display(), error = %e, "closing partition failed");
                result = result.and(Err(e));
            }
        }
        result
    }
}
