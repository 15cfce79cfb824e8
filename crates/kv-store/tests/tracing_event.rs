//! Recovery reports its figures as one `tracing` event (target `kv_store::recovery`).

use std::sync::{Arc, Mutex};

use kv_store::{Options, Store, SyncPolicy};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One event's fields, as (name, value) text.
type EventFields = Vec<(String, String)>;

/// Keeps the fields of every event of one target.
struct Capture {
    target: &'static str,
    events: Arc<Mutex<Vec<EventFields>>>,
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == self.target
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(Vec::new());
        event.record(&mut f);
        self.events.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn recovery_emits_its_figures_as_a_tracing_event() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::EveryWrite)
            .segment_size(1 << 20)
            .background_workers(false)
            .snapshot_on_close(false)
    };
    let store = Store::open(opts()).unwrap();
    for i in 0..5u32 {
        store.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    store.close().unwrap();

    let events = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture {
        target: "kv_store::recovery",
        events: events.clone(),
    };
    let store = tracing::subscriber::with_default(capture, || Store::open(opts()).unwrap());
    assert_eq!(store.recovery().records_replayed, 5);
    let events = events.lock().unwrap();
    let recovered = events
        .iter()
        .find(|fields| {
            fields
                .iter()
                .any(|(k, v)| k == "message" && v == "recovered")
        })
        .expect("a `recovered` event");
    let field = |name: &str| {
        recovered
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name} in {recovered:?}"))
    };
    assert_eq!(field("records_replayed"), "5");
    assert_eq!(field("entries"), "5");
    assert_eq!(field("bytes_cut"), "0");
    field("duration_ms");
}
