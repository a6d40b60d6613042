/// Reads JSON text value by value, straight from its bytes: the protocol's nodes (a grant, the
/// summary, a member's record) and the mappings of `exec:` allocators and `allocatorctl plan`.
/// A grant of 500 partitions reads in microseconds, where a `Decodable` pass through
/// Foundation's `JSONDecoder` cost most of a follower's work per change (issue 21).
///
/// Strict JSON (RFC 8259): any whitespace and string escape; an integer is read only where an
/// integer is expected, and must fit `Int`. Object keys are kept apart by their bytes, and a key
/// repeated is read as many times as it appears.
public struct JSONReader {
    /// What was expected where the text did not have it.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The byte offset in the text.
        public let offset: Int
        public let expected: String

        public var description: String { "expected \(expected) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// `{ "KEY": VALUE, ... }`: `entry` reads each VALUE, given its KEY.
    public mutating func object(_ entry: (inout JSONReader, String) throws(Failure) -> Void) throws(Failure) {
        try entries { reader throws(Failure) in
            let key = try reader.string()
            try reader.colon()
            try entry(&reader, key)
        }
    }

    /// `[ VALUE, ... ]`: `element` reads each VALUE.
    public mutating func array(_ element: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        try items(UInt8(ascii: "["), UInt8(ascii: "]"), element)
    }

    /// `[ INTEGER, ... ]`.
    public mutating func integers() throws(Failure) -> [Int] {
        var values: [Int] = []
        try array { reader throws(Failure) in values.append(try reader.integer()) }
        return values
    }

    /// `[ STRING, ... ]`.
    public mutating func strings() throws(Failure) -> [String] {
        var values: [String] = []
        try array { reader throws(Failure) in values.append(try reader.string()) }
        return values
    }

    /// A JSON integer that fits `Int` (no fraction, no exponent).
    public mutating func integer() throws(Failure) -> Int {
        skipWhitespace()
        let start = position
        var negative = false
        if next == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var value = 0
        var digits = 0
        while let byte = next, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            let digit = Int(byte - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else {
                position = start
                throw failure("an integer that fits 64 bits")
            }
            value = sum
            digits += 1
            position += 1
        }
        let leadingZero = digits > 1 && bytes[start + (negative ? 1 : 0)] == UInt8(ascii: "0")
        let fraction = next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E")
        guard digits > 0, !leadingZero, !fraction else {
            position = start
            throw failure("an integer")
        }
        return value
    }

    /// A JSON string, escapes decoded; the bytes must be UTF-8.
    public mutating func string() throws(Failure) -> String {
        skipWhitespace()
        try expect(UInt8(ascii: "\""))
        // Most strings have no escape: made straight from their bytes.
        if let end = plainStringEnd() {
            defer { position = end + 1 }
            guard let text = String(validating: bytes[position..<end], as: UTF8.self) else { throw failure("a string of UTF-8") }
            return text
        }
        var output: [UInt8] = []
        while true {
            guard let byte = next else { throw failure("the string's closing quote") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: output, as: UTF8.self) else { throw failure("a string of UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                try escape(into: &output)
            case 0x00..<0x20:
                position -= 1
                throw failure("no control character in a string")
            default:
                output.append(byte)
            }
        }
    }

    /// `true` or `false`.
    public mutating func bool() throws(Failure) -> Bool {
        skipWhitespace()
        if skip("true") { return true }
        if skip("false") { return false }
        throw failure("true or false")
    }

    /// Reads `null` if it comes next, and says whether it did.
    public mutating func null() -> Bool {
        skipWhitespace()
        return skip("null")
    }

    /// Reads a value of any kind, and forgets it (a key the reader does not know).
    public mutating func skipValue() throws(Failure) {
        skipWhitespace()
        switch next {
        case UInt8(ascii: "{"):
            try entries { reader throws(Failure) in
                try reader.skipString()
                try reader.colon()
                try reader.skipValue()
            }
        case UInt8(ascii: "["): try array { reader throws(Failure) in try reader.skipValue() }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"):
            guard null() else { throw failure("a value") }
        default: try number()
        }
    }

    /// Only whitespace is left.
    public mutating func end() throws(Failure) {
        skipWhitespace()
        guard position == bytes.count else { throw failure("the end of the text") }
    }

    // MARK: Bytes

    private var next: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func failure(_ expected: String) -> Failure {
        Failure(offset: position, expected: expected)
    }

    /// `{ ENTRY, ... }`: `entry` reads each `"KEY": VALUE`.
    private mutating func entries(_ entry: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        try items(UInt8(ascii: "{"), UInt8(ascii: "}"), entry)
    }

    /// `OPEN ITEM, ... CLOSE` (an array's or an object's): `item` reads each ITEM.
    private mutating func items(_ open: UInt8, _ close: UInt8, _ item: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        skipWhitespace()
        try expect(open)
        skipWhitespace()
        if next == close {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            try item(&self)
            skipWhitespace()
            guard let byte = next else { throw failure("\",\" or \"\(Character(Unicode.Scalar(close)))\"") }
            if byte == close {
                position += 1
                return
            }
            try expect(UInt8(ascii: ","))
        }
    }

    /// The `:` between a key and its value.
    private mutating func colon() throws(Failure) {
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
    }

    /// A string checked as `string()` checks it, but not made: ASCII needs no UTF-8 check.
    private mutating func skipString() throws(Failure) {
        skipWhitespace()
        let start = position
        try expect(UInt8(ascii: "\""))
        if let end = plainStringEnd(), !bytes[position..<end].contains(where: { $0 >= 0x80 }) {
            position = end + 1
        } else {
            position = start
            _ = try string()
        }
    }

    /// Where the string that starts at `position` (after its opening quote) ends, at its
    /// closing quote, if it has no escape and no control character before it.
    private func plainStringEnd() -> Int? {
        var end = position
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") { return end }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        return nil
    }

    private mutating func skipWhitespace() {
        while let byte = next, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard next == byte else { throw failure("\"\(Character(Unicode.Scalar(byte)))\"") }
        position += 1
    }

    /// Reads `literal` if it comes next.
    private mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { $0.elementsEqual(bytes[position..<position + count]) }
        if matches { position += count }
        return matches
    }

    /// A JSON number of any kind: `-? INT FRACTION? EXPONENT?`.
    private mutating func number() throws(Failure) {
        let start = position
        if next == UInt8(ascii: "-") { position += 1 }
        let digits = { (reader: inout JSONReader) -> Int in
            var count = 0
            while let byte = reader.next, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                reader.position += 1
                count += 1
            }
            return count
        }
        let integerStart = position
        let integerDigits = digits(&self)
        guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
            position = start
            throw failure("a value")
        }
        if next == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw failure("a digit") }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            position += 1
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw failure("a digit") }
        }
    }

    private mutating func escape(into output: inout [UInt8]) throws(Failure) {
        guard let byte = next else { throw failure("an escape") }
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
                    throw failure("the second half of a surrogate pair")
                }
                position += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("the second half of a surrogate pair") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw failure("a Unicode scalar") }
            output += Array(String(Character(unicode)).utf8)
        default:
            position -= 1
            throw failure("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("four hex digits") }
        var value: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw failure("four hex digits") }
            value = value << 4 | UInt32(digit)
        }
        position += 4
        return value
    }
}
