/// Names of the leader lock's contender nodes: `<16 hex session><16 hex nonce>__lock__<10-digit
/// sequence>`, kazoo's form (32 hex digits, `__lock__`, the sequence), with the owner's session
/// in the first half, so that listing the lock tells which sessions contend (I3).
public enum ContenderName {
    /// The name to create (ZooKeeper appends the sequence).
    public static func prefix(session: Int64, nonce: UInt64) -> String {
        hex(UInt64(bitPattern: session)) + hex(nonce) + "__lock__"
    }

    /// The session a contender name carries, or `nil` for a name not of this form.
    public static func session(_ name: String) -> Int64? {
        guard name.utf8.count >= 32, let value = UInt64(name.prefix(16), radix: 16) else { return nil }
        return Int64(bitPattern: value)
    }

    /// The sequence number ZooKeeper appended; the lowest holds the lock.
    public static func sequence(_ name: String) -> Int {
        Int(name.suffix(10)) ?? Int.max
    }

    /// The contender names in lock order (lowest sequence first).
    public static func ordered(_ names: [String]) -> [String] {
        names.sorted { (sequence($0), $0) < (sequence($1), $1) }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
