use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Every piece of a whole answer (what a stream of it would give, merged).
pub fn parse(answer: &str, offered: &[String]) -> Vec<Piece> {
    let mut parser = CallParser::new(offered.to_vec());
    let mut pieces = parser.feed(answer);
    pieces.extend(parser.finish());
    merge(pieces)
}

fn offered() -> Vec<String> {
    ["get_weather", "search_web", "read_file", "run_command"]
        .map(str::to_owned)
        .to_vec()
}

/// Pieces with the call ids left out (they are made fresh each time).
fn shape(pieces: &[Piece]) -> Vec<(String, String)> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => ("text".to_owned(), t.clone()),
            Piece::Call(c) => (c.name.clone(), c.arguments.clone()),
        })
        .collect()
}

fn calls(answer: &str) -> Vec<(String, String)> {
    shape(&parse(answer, &offered()))
        .into_iter()
        .filter(|(kind, _)| kind != "text")
        .collect()
}

fn texts(answer: &str) -> String {
    shape(&parse(answer, &offered()))
        .into_iter()
        .filter(|(kind, _)| kind == "text")
        .map(|(_, t)| t)
        .collect()
}

/// Realistic answers: prose and calls in every shape models write, and text that looks
/// like a call and is not one.
const CORPUS: &[&str] = &[
    "Sure, let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}\n</tool_call>",
    "I'll look both up.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Tokyo\"}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"search_web\", \"arguments\": {\"query\": \"rust async\"}}\n</tool_call>\nI searched; the results will follow.",
    "```tool_call\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\"}}\n```",
    "Reading it now:\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"Cargo.toml\"}}\n```\n",
    "```\n{\"name\": \"run_command\", \"arguments\": {\"cmd\": \"ls -la\"}}\n```",
    "```json\n[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}]\n```",
    "<tool_call>\n[{\"name\": \"search_web\", \"arguments\": {\"query\": \"a\"}}, {\"name\": \"read_file\", \"arguments\": {\"path\": \"b\"}}]\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\",}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}",
    "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par",
    "<tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\" \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"not json\"}\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [1, 2]}\n</tool_call>",
    "To call a tool, write <tool_call> followed by JSON. That is all.",
    "Use `<tool_call>` tags around the JSON, then `</tool_call>`.",
    "Here is some code:\n```rust\nfn main() { println!(\"<tool_call>\"); }\n```\nDone.",
    "```python\nprint('hello')\n```\nand then\n```json\n{\"name\": \"not_a_tool\", \"arguments\": {}}\n```",
    "A JSON example:\n```json\n{\"name\": \"Ann\", \"age\": 3}\n```",
    "```json\n{\"config\": true}\n```",
    "Inline ```code``` is not a fence, nor is ``this``.",
    "好的，我来查一下天气。\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"北京\"}}\n</tool_call>\n查询完成后我会告诉你。",
    "北京今天晴，气温 18°C。<tool_call>{\"name\": \"search_web\", \"arguments\": {\"query\": \"北京 天气 明天\"}}</tool_call>",
    "天気を調べます。```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"東京\"}}\n```",
    "<tool_call>\n{\"function\": {\"name\": \"run_command\", \"arguments\": \"{\\\"cmd\\\": \\\"pwd\\\"}\"}}\n</tool_call>",
    "<tool_call>\n{\"type\": \"function\", \"function\": {\"name\": \"read_file\", \"arguments\": {\"path\": \"/etc/hosts\"}}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"search_web\", \"parameters\": {\"query\": \"llama format\"}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"run_command\"}\n</tool_call>",
    "<tool_call>\n{\"name\": \"run_command\", \"arguments\": \"\"}\n</tool_call>",
    "Plain answer with no calls at all. The weather in Paris is mild.",
    "",
    "<",
    "<tool_call",
    "``",
    "Text ending in a partial marker <tool_ca",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"a</tool_call>b\"}}\n</tool_call>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"note\": \"says \\\"hi\\\" and }\"}}\n</tool_call>",
    "Before\n\n<tool_call>\n  {\"name\": \"get_weather\",\n   \"arguments\": {\n     \"city\": \"Paris\",\n     \"unit\": \"C\"\n   }\n  }\n</tool_call>\n\nAfter",
    "Two fences: ```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}\n``` and ```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"B\"}}\n```",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"X\"}}\n</tool_call><tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {}}\n</tool_call>",
    "```tool_call\n{'name': 'get_weather', 'arguments': {'city': 'Paris'}}\n```",
    "Emoji 🌦️ before <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}</tool_call> and after 🌈",
    "<tool_call> I will now think about it </tool_call>",
    "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",
];

#[test]
fn the_corpus_is_large_enough() {
    assert!(CORPUS.len() >= 40, "{}", CORPUS.len());
}

#[test]
fn a_stream_split_anywhere_gives_what_the_whole_answer_gives() {
    let mut rng = StdRng::seed_from_u64(0x0D0D);
    for answer in CORPUS {
        let whole = shape(&parse(answer, &offered()));
        let bytes = answer.len();
        for round in 0..1_000 {
            // Split at random char boundaries: one to eight pieces, or byte by byte.
            let mut cuts: Vec<usize> = if round == 0 {
                (0..=bytes).collect()
            } else {
                (0..rng.random_range(0..8))
                    .map(|_| rng.random_range(0..=bytes))
                    .collect()
            };
            cuts.retain(|c| answer.is_char_boundary(*c));
            cuts.extend([0, bytes]);
            cuts.sort_unstable();
            cuts.dedup();
            let mut parser = CallParser::new(offered());
            let mut pieces = Vec::new();
            for pair in cuts.windows(2) {
                pieces.extend(parser.feed(&answer[pair[0]..pair[1]]));
            }
            pieces.extend(parser.finish());
            assert_eq!(shape(&merge(pieces)), whole, "{answer:?} split at {cuts:?}");
        }
    }
}

fn paris() -> (String, String) {
    ("get_weather".to_owned(), "{\"city\":\"Paris\"}".to_owned())
}

#[test]
fn calls_in_each_shape_are_found_with_prose_kept() {
    assert_eq!(calls(CORPUS[0]), [paris()]);
    assert_eq!(texts(CORPUS[0]), "Sure, let me check.\n");
    assert_eq!(calls(CORPUS[1]), [paris()]);
    assert_eq!(
        calls(CORPUS[2])[0].1,
        "{\"city\":\"Oslo\"}",
        "arguments as a string"
    );
    assert_eq!(calls(CORPUS[3]).len(), 2, "two calls");
    assert_eq!(texts(CORPUS[4]), "\nI searched; the results will follow.");
    assert_eq!(calls(CORPUS[5])[0].0, "read_file", "a tool_call fence");
    assert_eq!(texts(CORPUS[6]), "Reading it now:\n\n");
    assert_eq!(calls(CORPUS[7])[0].0, "run_command", "a bare fence");
    assert_eq!(calls(CORPUS[8]).len(), 2, "an array in a fence");
    assert_eq!(calls(CORPUS[9]).len(), 2, "an array in a tag");
    assert_eq!(calls(CORPUS[10]), [paris()], "a trailing comma repaired");
    assert_eq!(calls(CORPUS[11]), [paris()], "cut off: brackets closed");
    assert_eq!(calls(CORPUS[12]), [paris()], "no closing tag at the end");
    assert_eq!(texts(CORPUS[12]), "Let me check.\n");
    assert_eq!(
        calls(CORPUS[29])[0].1,
        "{\"path\":\"/etc/hosts\"}",
        "a function wrapper"
    );
    assert_eq!(
        calls(CORPUS[30])[0].1,
        "{\"query\":\"llama format\"}",
        "parameters"
    );
    assert_eq!(calls(CORPUS[31])[0].1, "{}", "no arguments");
    assert_eq!(calls(CORPUS[32])[0].1, "{}", "empty arguments");
    assert_eq!(
        calls(CORPUS[41])[0].1,
        "{\"city\":\"Paris\",\"unit\":\"C\"}"
    );
    assert_eq!(texts(CORPUS[41]), "Before\n\n\n\nAfter");
    assert_eq!(calls(CORPUS[42]).len(), 2, "two fenced calls");
    assert_eq!(calls(CORPUS[47]), [paris()], "an unclosed fence at the end");
}

#[test]
fn nothing_is_invented() {
    for (i, why) in [
        (13, "cut inside a string"),
        (14, "a tool not offered"),
        (15, "JSON beyond repair"),
        (16, "arguments that are not JSON"),
        (17, "arguments that are not an object"),
        (18, "a marker in prose"),
        (19, "markers in inline code"),
        (20, "a marker in a code fence"),
        (21, "code, then a fence naming no tool offered"),
        (22, "a JSON example"),
        (23, "JSON that is not a call"),
        (24, "inline backticks"),
        (33, "no call"),
        (34, "empty"),
        (38, "a partial marker at the end"),
        (46, "prose inside tags"),
    ] {
        assert!(calls(CORPUS[i]).is_empty(), "{why}: {:?}", CORPUS[i]);
        assert_eq!(texts(CORPUS[i]), CORPUS[i], "{why}: kept whole as text");
    }
    assert_eq!(
        calls(CORPUS[43]).len(),
        1,
        "the call to an offered tool only"
    );
    assert!(texts(CORPUS[43]).contains("launch_rocket"));
}

#[test]
fn cjk_and_emoji_around_calls_survive() {
    assert_eq!(calls(CORPUS[25])[0].1, "{\"city\":\"北京\"}");
    assert_eq!(
        texts(CORPUS[25]),
        "好的，我来查一下天气。\n\n查询完成后我会告诉你。"
    );
    assert_eq!(calls(CORPUS[27])[0].1, "{\"city\":\"東京\"}");
    assert_eq!(texts(CORPUS[45]), "Emoji 🌦️ before  and after 🌈");
}

#[test]
fn text_is_held_only_while_it_could_begin_a_call() {
    let mut parser = CallParser::new(offered());
    assert_eq!(
        shape(&parser.feed("Hello, world")),
        [("text".to_owned(), "Hello, world".to_owned())],
        "plain text goes at once"
    );
    assert_eq!(
        shape(&parser.feed(" and <tool_c")),
        [("text".to_owned(), " and ".to_owned())]
    );
    assert_eq!(
        shape(&parser.feed("ar is a word")),
        [("text".to_owned(), "<tool_car is a word".to_owned())],
        "released as soon as it cannot be the marker"
    );
    assert_eq!(
        shape(&parser.feed(" `")),
        [("text".to_owned(), " ".to_owned())]
    );
    assert_eq!(
        shape(&parser.feed("x")),
        [("text".to_owned(), "`x".to_owned())]
    );
    assert!(parser.feed("<tool_call>").is_empty(), "a call may begin");
    assert_eq!(
        shape(&parser.feed(" maybe not")),
        [("text".to_owned(), "<tool_call> maybe not".to_owned())],
        "not JSON after the tag: text again"
    );
    assert!(parser.finish().is_empty());
}
