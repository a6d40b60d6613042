/// The 64-bit FNV-1a hash of a byte sequence: start at `0xcbf29ce484222325`, and for each byte
/// XOR it in, then multiply by `0x100000001b3` modulo 2^64.
///
/// Used for the digest of an allocation and for the names the `consistent` strategy scores;
/// both are documented in docs/strategies.md, so other implementations can reproduce them.
struct FNV1a64 {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of the bytes added so far.
    private(set) var value = FNV1a64.offsetBasis

    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* FNV1a64.prime
    }

    mutating func add<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        for byte in bytes { add(byte) }
    }

    /// The hash of `bytes`.
    static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hasher = FNV1a64()
        hasher.add(bytes)
        return hasher.value
    }
}
