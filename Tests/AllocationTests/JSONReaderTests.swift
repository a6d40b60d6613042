import Allocation
import Testing

/// `JSONReader`'s strings, read and skipped: the plain ones are taken straight from their bytes,
/// the rest through their escapes; both are held to the same rules.
@Suite struct JSONReaderTests {
    private func read(_ text: [UInt8]) throws(JSONReader.Failure) -> String {
        var reader = JSONReader(text)
        let value = try reader.string()
        try reader.end()
        return value
    }

    private func skip(_ text: [UInt8]) throws(JSONReader.Failure) {
        var reader = JSONReader(text)
        try reader.skipValue()
        try reader.end()
    }

    @Test func stringsAreReadWithAndWithoutEscapes() throws {
        #expect(try read(Array(#""""#.utf8)) == "")
        #expect(try read(Array(#" "a member name longer than fifteen bytes" "#.utf8)) == "a member name longer than fifteen bytes")
        #expect(try read(Array(#""caf\u00e9 \"x\" \\ \/ \n""#.utf8)) == "café \"x\" \\ / \n")
        #expect(try read(Array("\"cafe\u{301}\"".utf8)) == "cafe\u{301}")
        #expect(try read(Array(#""\ud83d\ude00""#.utf8)) == "😀")
    }

    @Test func badStringsAreRefusedWhetherReadOrSkipped() {
        let bad: [[UInt8]] = [
            [0x22, 0x61, 0xFF, 0x22],  // not UTF-8
            [0x22, 0x61, 0xC3, 0x22],  // a UTF-8 sequence cut short
            [0x22, 0x61, 0x0A, 0x62, 0x22],  // a control character
            Array(#""a\x""#.utf8),  // no such escape
            Array(#""open"#.utf8),  // no closing quote
        ]
        for text in bad {
            #expect(throws: JSONReader.Failure.self, "\(text)") { try read(text) }
            #expect(throws: JSONReader.Failure.self, "\(text)") { try skip(text) }
            #expect(throws: JSONReader.Failure.self, "a key \(text)") { try skip(Array("{".utf8) + text + Array(":1}".utf8)) }
        }
        #expect(throws: JSONReader.Failure.self) { try skip(Array(#"{"a" 1}"#.utf8)) }
        #expect(throws: JSONReader.Failure.self) { try skip(Array(#"{1:1}"#.utf8)) }
    }

    @Test func valuesAreSkippedWhole() throws {
        try skip(Array(#"{"a":"x\"y","b":["é",1.5e3,-0,null,true,false,{}],"c":{"d":[]}}"#.utf8))
        var reader = JSONReader(Array(#"{"skipped":"a\"b","kept":"é"}"#.utf8))
        var kept: String?
        try reader.object { reader, key throws(JSONReader.Failure) in
            if key == "kept" { kept = try reader.string() } else { try reader.skipValue() }
        }
        #expect(kept == "é")
    }
}
