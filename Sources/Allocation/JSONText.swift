/// Writes JSON text as UTF-8 bytes the way Python's `json.dumps(value, ensure_ascii=False,
/// separators=(",", ":"))` does, so that documents (and the digest over them) can be reproduced
/// byte for byte in Python.
public enum JSONText {
    /// Appends `text` as a JSON string: `"` and `\` escaped with a backslash; `\b \f \n \r \t`
    /// by their short escapes; other code points below U+0020 as `\u00xx` (lowercase hex);
    /// every other byte of the UTF-8 as it is.
    public static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), byte]
            case 0x08: output += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: output += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                let hexDigits = Array("0123456789abcdef".utf8)
                output += Array("\\u00".utf8) + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends a JSON array of strings.
    public static func appendArray(_ texts: [String], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, text) in texts.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            appendString(text, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    /// Appends `value` in decimal, as Python writes an `int`.
    public static func appendInteger(_ value: Int, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        // Partition ids are mostly below 10 000: their digits straight in (the general path's
        // copy of a buffer's slice cost a grant's encoding a third of its time).
        let zero = UInt8(ascii: "0")
        switch magnitude {
        case ..<10:
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude))
            return
        case ..<100:
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 10))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude % 10))
            return
        case ..<1000:
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 100))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 10 % 10))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude % 10))
            return
        case ..<10000:
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 1000))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 100 % 10))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude / 10 % 10))
            output.append(zero &+ UInt8(truncatingIfNeeded: magnitude % 10))
            return
        default:
            break
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            output.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// Appends `count` integers, `value(0)` to `value(count - 1)`, in decimal with a comma
    /// between them (a JSON array's inside): sized first, then written in place, a few
    /// nanoseconds an integer where appending byte by byte costs several times that.
    @inline(__always)
    static func appendIntegers(count: Int, _ value: (Int) -> Int, to output: inout [UInt8]) {
        guard count > 0 else { return }
        var size = count - 1
        for index in 0..<count {
            let number = value(index)
            size += DecimalOrder.digitCount(UInt64(number.magnitude)) + (number < 0 ? 1 : 0)
        }
        var position = output.count
        output.append(contentsOf: repeatElement(0, count: size))
        output.withUnsafeMutableBufferPointer { bytes in
            for index in 0..<count {
                if index > 0 {
                    bytes[position] = UInt8(ascii: ",")
                    position += 1
                }
                let number = value(index)
                if number < 0 {
                    bytes[position] = UInt8(ascii: "-")
                    position += 1
                }
                var magnitude = number.magnitude
                let length = DecimalOrder.digitCount(UInt64(magnitude))
                for offset in stride(from: length - 1, through: 0, by: -1) {
                    bytes[position + offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                    magnitude /= 10
                }
                position += length
            }
        }
    }

    /// Appends raw ASCII text, such as punctuation or a number.
    static func appendRaw(_ text: String, to output: inout [UInt8]) {
        output.append(contentsOf: text.utf8)
    }
}
