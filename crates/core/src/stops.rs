//! Stop sequences, kept by the proxy too. They are sent upstream (`modelConfigs.stopSequences`),
//! but whether every endpoint honours them is not known (§13.4): an answer that still contains
//! one is cut there, and the answer says it stopped on it (Anthropic's `stop_sequence`). A
//! stream holds back only what could still be the start of a stop sequence.

/// Where the first stop sequence in `text` begins, and which one it is.
pub fn cut(text: &str, stops: &[String]) -> Option<(usize, usize)> {
    stops
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .filter_map(|(i, s)| text.find(s.as_str()).map(|at| (at, i)))
        .min()
}

/// A stream's text, scanned for stop sequences as it comes.
#[derive(Debug)]
pub struct StopScan {
    stops: Vec<String>,
    /// Text that could still be the start of a stop sequence.
    held: String,
    /// The stop sequence the answer ended on.
    stopped: Option<usize>,
}

impl StopScan {
    /// A scan for `stops`; `None` when there are none.
    pub fn new(stops: &[String]) -> Option<Self> {
        stops.iter().any(|s| !s.is_empty()).then(|| Self {
            stops: stops.to_vec(),
            held: String::new(),
            stopped: None,
        })
    }

    /// The text to pass on now: everything before a stop sequence, less what could still
    /// begin one. Nothing once one was met.
    pub fn feed(&mut self, text: &str) -> String {
        if self.stopped.is_some() {
            return String::new();
        }
        self.held.push_str(text);
        if let Some((at, i)) = cut(&self.held, &self.stops) {
            self.stopped = Some(i);
            self.held.truncate(at);
            return std::mem::take(&mut self.held);
        }
        let keep = self.partial();
        let out = self.held[..self.held.len() - keep].to_owned();
        self.held.drain(..self.held.len() - keep);
        out
    }

    /// The longest end of the held text that is the start of a stop sequence (in bytes).
    fn partial(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        (1..longest.min(self.held.len() + 1))
            .rev()
            .find(|&n| {
                let from = self.held.len() - n;
                self.held.is_char_boundary(from)
                    && self
                        .stops
                        .iter()
                        .any(|s| s.len() > n && s.starts_with(&self.held[from..]))
            })
            .unwrap_or(0)
    }

    /// What is still held when the answer ends (it began no stop sequence after all).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The stop sequence met, if one was.
    pub fn stopped(&self) -> Option<usize> {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_first_stop_sequence_cuts_the_answer() {
        let s = stops(&["END", "\n\n"]);
        assert_eq!(cut("one\n\ntwo END", &s), Some((3, 1)));
        assert_eq!(cut("no stop here", &s), None);
        assert_eq!(
            cut("x", &stops(&[""])),
            None,
            "an empty sequence stops nothing"
        );
    }

    #[test]
    fn a_stream_gives_what_the_whole_answer_gives_however_it_is_split() {
        let s = stops(&["STOP!", "éé"]);
        for answer in [
            "Hello there STOP! and more",
            "caféé au lait",
            "nothing to see",
            "STO STOP",
            "ST",
        ] {
            let whole = match cut(answer, &s) {
                Some((at, _)) => &answer[..at],
                None => answer,
            };
            let chars: Vec<char> = answer.chars().collect();
            for size in 1..=4 {
                let mut scan = StopScan::new(&s).unwrap();
                let mut out = String::new();
                for piece in chars.chunks(size) {
                    out.push_str(&scan.feed(&piece.iter().collect::<String>()));
                }
                let stopped = scan.stopped();
                out.push_str(&scan.finish());
                assert_eq!(out, whole, "{answer:?} in pieces of {size}");
                assert_eq!(stopped.is_some(), cut(answer, &s).is_some(), "{answer:?}");
            }
        }
        assert!(StopScan::new(&stops(&[])).is_none());
    }

    #[test]
    fn only_a_possible_start_is_held_back() {
        let mut scan = StopScan::new(&stops(&["<END>"])).unwrap();
        assert_eq!(scan.feed("abc <E"), "abc ");
        assert_eq!(scan.feed("X"), "<EX");
        assert_eq!(scan.feed("<EN"), "");
        assert_eq!(scan.feed("D> rest"), "");
        assert_eq!(scan.stopped(), Some(0));
        assert_eq!(scan.feed("more"), "", "nothing after the stop");
    }
}
