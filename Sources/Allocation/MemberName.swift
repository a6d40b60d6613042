/// The rules for a member's name (spec §2): it is a znode name under `members/`, so 1–255
/// characters (Unicode code points, as Python's `len`), no `/`, not `.` or `..`, printable, no
/// NUL.
///
/// "Printable" is Python's `str.isprintable()`: no character of the Unicode categories Cc, Cf,
/// Cs, Co, Cn, Zl, Zp, or Zs other than the space. Characters ZooKeeper itself refuses in a
/// path (U+FFF1–U+FFFE besides those) are refused too.
public enum MemberName {
    /// The longest name, in code points.
    public static let maximumLength = 255

    /// Why `name` cannot be a member's name, or `nil` if it can. `role` names it in the reason:
    /// a group's name follows the same rules and says so.
    public static func problem(with name: String, as role: String = "member name") -> String? {
        let count = name.unicodeScalars.count
        if count == 0 { return "the \(role) is empty" }
        if count > maximumLength {
            return "the \(role) is \(count) characters long, more than \(maximumLength)"
        }
        if utf8Equal(name, ".") || utf8Equal(name, "..") { return "the \(role) cannot be \"\(name)\"" }
        if name.utf8.contains(UInt8(ascii: "/")) { return "the \(role) \"\(name)\" contains \"/\"" }
        if let bad = name.unicodeScalars.first(where: { !isPrintable($0) }) {
            return "the \(role) \"\(name.unicodeScalars.map { $0.escaped(asASCII: true) }.joined())\" "
                + "contains the unprintable character U+\(String(bad.value, radix: 16, uppercase: true))"
        }
        return nil
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        if (0xFFF1...0xFFFE).contains(scalar.value) { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
