//! What a `Cursor<Document>` pays per document: the two ways to turn a batch document's bytes
//! into a `Document`, on a typical document (an order: ids, dates, strings, numbers, a
//! nested address, an array of line items; 896 bytes) and a small one (38 bytes).
//!
//! - `bson_try_from`: the bson crate's `TryFrom<&RawDocument>`, what the cursor uses for
//!   `Document`.
//! - `serde`: `bson::from_slice`, what it uses for every other type (and used for
//!   `Document` before).
//!
//! Run with `scripts/bench.sh decode` or `cargo bench --bench decode`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mongo_x509::bson::oid::ObjectId;
use mongo_x509::bson::{doc, DateTime, Document, RawDocument, RawDocumentBuf};

fn order() -> Document {
    let items: Vec<Document> = (0..4)
        .map(|i| {
            doc! {
                "sku": format!("SKU-{:06}", 1000 + i),
                "name": "Stainless steel widget, large",
                "qty": 1 + i,
                "unitPrice": 19.99 + f64::from(i),
                "discount": { "code": "SPRING", "pct": 10 },
            }
        })
        .collect();
    doc! {
        "_id": ObjectId::new(),
        "orderNo": 12_345_678_i64,
        "customerId": ObjectId::new(),
        "status": "shipped",
        "createdAt": DateTime::from_millis(1_700_000_000_000),
        "updatedAt": DateTime::from_millis(1_700_000_360_000),
        "total": 123.45,
        "currency": "EUR",
        "gift": false,
        "tags": ["priority", "eu", "repeat-customer"],
        "shipping": {
            "name": "Ada Lovelace",
            "street": "12 Example Road",
            "city": "London",
            "zip": "N1 9GU",
            "country": "GB",
        },
        "items": items,
    }
}

fn bench(c: &mut Criterion) {
    let docs = [
        ("order", RawDocumentBuf::from_document(&order()).unwrap()),
        (
            "small",
            RawDocumentBuf::from_document(&doc! { "_id": ObjectId::new(), "n": 1, "s": "x" })
                .unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("decode_document");
    for (name, raw) in &docs {
        let raw: &RawDocument = raw;
        group.bench_with_input(BenchmarkId::new("bson_try_from", name), raw, |b, raw| {
            b.iter(|| Document::try_from(std::hint::black_box(raw)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("serde", name), raw, |b, raw| {
            b.iter(|| {
                mongo_x509::bson::from_slice::<Document>(std::hint::black_box(raw).as_bytes())
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
