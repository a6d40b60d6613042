/// Reads a mapping in the shape `allocatorctl plan` prints and an `exec:` allocator prints,
/// `{"MEMBER": {"TOPIC": [ID, ...]}}`, from JSON text.
///
/// Unlike a decoder into a Swift `Dictionary`, it keeps members whose names are canonically
/// equivalent Unicode (`"é"` and `"e\u{301}"`) apart, as everywhere else in this target, and it
/// reads a 100 000-partition mapping in a few milliseconds. Any JSON whitespace and string
/// escape is accepted; a member or a topic repeated is read as many times as it appears.
public enum MappingText {
    /// One member's entry: its topics, each with its ids, in the order of the text.
    public typealias Share = [(topic: String, ids: [Int])]

    /// The mapping in `text`, members in the order of the text.
    /// - Throws: `MappingTextError` with the byte offset and what was expected there.
    public static func parse(_ text: [UInt8]) throws(MappingTextError) -> [(member: String, share: Share)] {
        var reader = Reader(bytes: text)
        var result: [(member: String, share: Share)] = []
        try reader.object { reader throws(MappingTextError) in
            let member = try reader.string()
            reader.skipWhitespace()
            try reader.expect(UInt8(ascii: ":"))
            var share: Share = []
            try reader.object { reader throws(MappingTextError) in
                let topic = try reader.string()
                reader.skipWhitespace()
                try reader.expect(UInt8(ascii: ":"))
                share.append((topic, try reader.integers()))
            }
            result.append((member, share))
        }
        reader.skipWhitespace()
        guard reader.position == text.count else { throw reader.error("the end of the text") }
        return result
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        func error(_ expected: String) -> MappingTextError {
            MappingTextError(offset: position, expected: expected)
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(MappingTextError) {
            guard position < bytes.count, bytes[position] == byte else {
                throw error("\"\(Character(Unicode.Scalar(byte)))\"")
            }
            position += 1
        }

        /// `{ ENTRY, ... }`, `entry` reading each `KEY: VALUE`.
        mutating func object(_ entry: (inout Reader) throws(MappingTextError) -> Void) throws(MappingTextError) {
            skipWhitespace()
            try expect(UInt8(ascii: "{"))
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return
            }
            while true {
                skipWhitespace()
                try entry(&self)
                skipWhitespace()
                guard position < bytes.count else { throw error("\",\" or \"}\"") }
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "}") { return }
                guard byte == UInt8(ascii: ",") else {
                    position -= 1
                    throw error("\",\" or \"}\"")
                }
            }
        }

        /// `[ INTEGER, ... ]`.
        mutating func integers() throws(MappingTextError) -> [Int] {
            skipWhitespace()
            try expect(UInt8(ascii: "["))
            var values: [Int] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return values
            }
            while true {
                skipWhitespace()
                values.append(try integer())
                skipWhitespace()
                guard position < bytes.count else { throw error("\",\" or \"]\"") }
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "]") { return values }
                guard byte == UInt8(ascii: ",") else {
                    position -= 1
                    throw error("\",\" or \"]\"")
                }
            }
        }

        /// A JSON integer that fits `Int` (no fraction, no exponent).
        mutating func integer() throws(MappingTextError) -> Int {
            let start = position
            var negative = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
                negative = true
                position += 1
            }
            var value = 0
            var digits = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                let digit = Int(bytes[position] - UInt8(ascii: "0"))
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else {
                    position = start
                    throw error("an integer that fits 64 bits")
                }
                value = sum
                digits += 1
                position += 1
            }
            let leadingZero = digits > 1 && bytes[start + (negative ? 1 : 0)] == UInt8(ascii: "0")
            let fraction = position < bytes.count && [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position])
            guard digits > 0, !leadingZero, !fraction else {
                position = start
                throw error("an integer")
            }
            return value
        }

        /// A JSON string, escapes decoded; the bytes must be UTF-8.
        mutating func string() throws(MappingTextError) -> String {
            try expect(UInt8(ascii: "\""))
            var output: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("the string's closing quote") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: output, as: UTF8.self) else {
                        throw error("a string of UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    try escape(into: &output)
                case 0x00..<0x20:
                    position -= 1
                    throw error("no control character in a string")
                default:
                    output.append(byte)
                }
            }
        }

        private mutating func escape(into output: inout [UInt8]) throws(MappingTextError) {
            guard position < bytes.count else { throw error("an escape") }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(byte)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw error("the second half of a surrogate pair")
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("the second half of a surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error("a Unicode scalar") }
                output += Array(String(Character(unicode)).utf8)
            default:
                position -= 1
                throw error("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
            }
        }

        private mutating func hex4() throws(MappingTextError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("four hex digits") }
            var value: UInt32 = 0
            for byte in bytes[position..<position + 4] {
                guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw error("four hex digits") }
                value = value << 4 | UInt32(digit)
            }
            position += 4
            return value
        }
    }
}

/// JSON text that is not a mapping `{"MEMBER": {"TOPIC": [ID, ...]}}`: where, and what was
/// expected there.
public struct MappingTextError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset in the text.
    public let offset: Int
    public let expected: String

    public var description: String { "not a mapping {\"MEMBER\": {\"TOPIC\": [ID, ...]}}: expected \(expected) at byte \(offset)" }
}
