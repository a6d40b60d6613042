/// Session ids as ZooKeeper's tools print them: `0x` and lowercase hex of the id's 64 bits, so
/// an id with the high bit set (a server whose `myid` is 128 or more) reads the same in a grant
/// node, the logs and the `status` reply.
public enum SessionID {
    /// `id` as `0x…`: its bits as an unsigned number, never a minus sign.
    public static func format(_ id: Int64) -> String { "0x" + String(UInt64(bitPattern: id), radix: 16) }

    /// The id `format` wrote, or `nil` if `text` is not `0x` and hex digits that fit 64 bits.
    public static func parse(_ text: String) -> Int64? {
        guard text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) else { return nil }
        return Int64(bitPattern: value)
    }
}
