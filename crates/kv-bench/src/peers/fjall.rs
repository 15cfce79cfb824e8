//! fjall, an LSM-tree store: one keyspace, journal persisted per `SyncMode`.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::adapter::{DurableAdapter, SyncMode};

/// One fjall `Database` with one `Keyspace`.
pub struct FjallAdapter {
    db: Database,
    keyspace: Keyspace,
    mode: SyncMode,
}

impl DurableAdapter for FjallAdapter {
    fn name() -> String {
        "fjall".to_owned()
    }

    fn describe(mode: SyncMode) -> Option<String> {
        match mode {
            SyncMode::EveryWrite => Some("insert, then persist(SyncData)".to_owned()),
            SyncMode::Never => Some("insert (default: journal written to the OS)".to_owned()),
            SyncMode::Interval(_) => None,
        }
    }

    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        let db = Database::builder(dir).open()?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(Self { db, keyspace, mode })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.keyspace.insert(key, value)?;
        if self.mode == SyncMode::EveryWrite {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        let durability = (self.mode == SyncMode::EveryWrite).then_some(PersistMode::SyncData);
        let mut batch = self.db.batch().durability(durability);
        for (k, v) in items {
            batch.insert(&self.keyspace, *k, *v);
        }
        batch.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.keyspace.get(key)?.is_some())
    }

    fn close(self) -> anyhow::Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}
