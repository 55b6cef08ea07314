//! Shared by the fuzz tests of archive-format and physical (which includes this file by
//! path): mutations of valid JSON documents.

use proptest::sample::Index;

/// Replaces the value at a randomly chosen place of `doc` (walking `steps`) with `new`.
pub fn replace_somewhere(doc: &mut serde_json::Value, steps: &[Index], new: serde_json::Value) {
    let mut pointer = String::new();
    let mut here = &*doc;
    for step in steps {
        let (key, next) = match here {
            serde_json::Value::Object(map) if !map.is_empty() => {
                let keys: Vec<&String> = map.keys().collect();
                let key = *step.get(&keys);
                (key.replace('~', "~0").replace('/', "~1"), &map[key])
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                (i.to_string(), &items[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&key);
        here = next;
    }
    if let Some(slot) = doc.pointer_mut(&pointer) {
        *slot = new;
    }
}
