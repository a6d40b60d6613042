import Allocation
import Testing

@Suite struct MemberNameTests {
    @Test(arguments: ["a", "host-a.example.com", "é", "e\u{301}", "😀", "with space", "x:1", "...", String(repeating: "ü", count: 255)])
    func acceptsValidNames(name: String) {
        #expect(MemberName.problem(with: name) == nil)
    }

    @Test(arguments: [
        ("", "empty"),
        (".", "cannot be"),
        ("..", "cannot be"),
        ("a/b", "contains \"/\""),
        ("a\u{0}b", "U+0"),
        ("a\nb", "U+A"),
        ("tab\t", "U+9"),
        ("del\u{7F}", "U+7F"),
        ("c1\u{85}", "U+85"),
        ("nbsp\u{A0}", "U+A0"),
        ("zwj\u{200D}", "U+200D"),
        ("bidi\u{202E}", "U+202E"),
        ("private\u{E000}", "U+E000"),
        ("line\u{2028}", "U+2028"),
        ("unassigned\u{378}", "U+378"),
        ("special\u{FFFE}", "U+FFFE"),
        (String(repeating: "a", count: 256), "256 characters long"),
    ])
    func refusesInvalidNames(name: String, reason: String) {
        let problem = MemberName.problem(with: name)
        #expect(problem?.contains(reason) == true, "\(problem ?? "accepted")")
    }
}
