//! A unified diff of two small texts, as a person reviews a change before it is applied:
//! `---`/`+++` headers, then hunks with three lines of context.

const CONTEXT: usize = 3;
/// Above this many line pairs the diff shows the whole old text removed and the new added,
/// rather than spend time on a file no agent config reaches.
const MAX_PAIRS: usize = 4_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Add,
}

/// The diff from `old` to `new` (a missing file is empty), both named `name`; empty when
/// they are the same.
pub fn unified(name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let script = edits(&a, &b);
    let mut out = format!("--- {name}\n+++ {name}\n");
    // Walk the script, emitting hunks around the changes.
    let mut i = 0;
    while i < script.len() {
        if script[i].0 == Op::Same {
            i += 1;
            continue;
        }
        let start = i.saturating_sub(CONTEXT);
        let mut end = i;
        let mut quiet = 0;
        while end < script.len() && quiet <= 2 * CONTEXT {
            quiet = if script[end].0 == Op::Same {
                quiet + 1
            } else {
                0
            };
            end += 1;
        }
        let end = (end - quiet.saturating_sub(CONTEXT)).min(script.len());
        let (old_start, new_start) = position(&script[..start]);
        let (old_len, new_len) = position(&script[start..end]);
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            old_start + usize::from(old_len > 0),
            new_start + usize::from(new_len > 0)
        ));
        for (op, line) in &script[start..end] {
            let mark = match op {
                Op::Same => ' ',
                Op::Del => '-',
                Op::Add => '+',
            };
            out.push(mark);
            out.push_str(line);
            out.push('\n');
        }
        i = end;
    }
    out
}

/// How many old and new lines a stretch of the script covers.
fn position(script: &[(Op, &str)]) -> (usize, usize) {
    script.iter().fold((0, 0), |(o, n), (op, _)| match op {
        Op::Same => (o + 1, n + 1),
        Op::Del => (o + 1, n),
        Op::Add => (o, n + 1),
    })
}

/// The shortest edit script by longest common subsequence.
fn edits<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    if a.len().saturating_mul(b.len()) > MAX_PAIRS {
        let del = a.iter().map(|l| (Op::Del, *l));
        return del.chain(b.iter().map(|l| (Op::Add, *l))).collect();
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j, mut script) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            script.push((Op::Same, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len()
            && (j == b.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
        {
            script.push((Op::Del, a[i]));
            i += 1;
        } else {
            script.push((Op::Add, b[j]));
            j += 1;
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_shows_with_its_context_and_positions() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        assert_eq!(
            unified("f", old, new),
            "--- f\n+++ f\n@@ -2,8 +2,9 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n+j\n"
        );
        assert_eq!(unified("f", old, old), "");
        assert_eq!(
            unified("f", "", "x\n"),
            "--- f\n+++ f\n@@ -0,0 +1,1 @@\n+x\n"
        );
    }

    #[test]
    fn far_apart_changes_make_two_hunks() {
        let old: String = (0..30).map(|i| format!("{i}\n")).collect();
        let new: String = (0..30)
            .map(|i| match i {
                2 => "two\n".to_owned(),
                25 => "twenty-five\n".to_owned(),
                i => format!("{i}\n"),
            })
            .collect();
        let diff = unified("f", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("-25\n+twenty-five\n"), "{diff}");
    }
}
