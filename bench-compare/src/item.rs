//! The document every workload writes and reads, the same for every driver.

use bson::Document;

/// A document of about 200 bytes (BSON), the same for every driver; `id` None leaves `_id` to
/// the driver.
pub fn item(i: i64, id: Option<i64>) -> Document {
    const WORDS: [&str; 16] = [
        "amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "haven", "ivory", "jolly",
        "koala", "lemon", "maple", "noble", "olive", "prism",
    ];
    // A fixed pseudo-random sequence: text that compresses like text, not like zeros.
    let mut x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut note = String::new();
    while note.len() < 80 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        note += WORDS[(x >> 60) as usize];
        note.push(' ');
    }
    let mut d = Document::new();
    if let Some(id) = id {
        d.insert("_id", id);
    }
    d.insert("name", format!("item-{i:06}"));
    d.insert("qty", (i % 100) as i32);
    d.insert("price", i as f64 * 0.25);
    d.insert("tags", vec!["red", "green", WORDS[(i % 16) as usize]]);
    d.insert("note", note);
    d
}
