//! redb, a copy-on-write B-tree store: one write transaction per set (or per batch).

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use crate::adapter::{DurableAdapter, SyncMode};

const TABLE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("bench");

/// One redb `Database` file with one table.
pub struct RedbAdapter {
    db: Database,
    durability: Durability,
}

impl RedbAdapter {
    fn commit(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability)?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (k, v) in items {
                table.insert(*k, *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl DurableAdapter for RedbAdapter {
    fn name() -> String {
        "redb".to_owned()
    }

    fn describe(mode: SyncMode) -> Option<String> {
        match mode {
            SyncMode::EveryWrite => Some("one Immediate-durability transaction per set".to_owned()),
            SyncMode::Never => Some("one Durability::None transaction per set".to_owned()),
            SyncMode::Interval(_) => None,
        }
    }

    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let db = Database::create(dir.join("bench.redb"))?;
        let durability = match mode {
            SyncMode::EveryWrite => Durability::Immediate,
            _ => Durability::None,
        };
        Ok(Self { db, durability })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.commit(&[(key, value)])
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        self.commit(items)
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(key)?.is_some())
    }

    fn close(self) -> anyhow::Result<()> {
        // A final durable commit makes earlier Durability::None commits persistent.
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }
}
