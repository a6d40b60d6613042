/// Whether `a` comes before `b` in the order of their UTF-8 bytes.
///
/// This is the order every strategy sorts member names in (spec §6): Python's code-point
/// order, which kiel uses. It is *not* Swift's `String` `<`, which compares by Unicode
/// canonical equivalence: there `"e\u{301}"` equals `"é"`, here they are two names and
/// `"e\u{301}"` comes first (`0x65 < 0xC3`). A string is never before itself.
public func utf8Precedes(_ a: String, _ b: String) -> Bool {
    // Native strings keep their UTF-8 contiguous: compared as two byte buffers (the generic
    // comparison of the views cost a leader of 1 000 members a tenth of its CPU).
    let compared = a.utf8.withContiguousStorageIfAvailable { aBytes in
        b.utf8.withContiguousStorageIfAvailable { bBytes in
            for index in 0..<min(aBytes.count, bBytes.count) where aBytes[index] != bBytes[index] {
                return aBytes[index] < bBytes[index]
            }
            return aBytes.count < bBytes.count
        }
    }
    return (compared ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// Whether `a` and `b` have the same UTF-8 bytes (unlike `==`, which treats canonically
/// equivalent strings as equal).
func utf8Equal(_ a: String, _ b: String) -> Bool {
    // The same value in memory (the same inline bytes of a short string, or the same storage
    // of a long one) has the same bytes: what neighbouring partitions of a topic nearly always
    // share, compared without copying a short string out to compare it.
    if MemoryLayout<String>.size == MemoryLayout<(UInt64, UInt64)>.size,
       unsafeBitCast(a, to: (UInt64, UInt64).self) == unsafeBitCast(b, to: (UInt64, UInt64).self) {
        return true
    }
    let equal = a.utf8.withContiguousStorageIfAvailable { aBytes in
        b.utf8.withContiguousStorageIfAvailable { bBytes in
            aBytes.elementsEqual(bBytes)
        }
    }
    return (equal ?? nil) ?? a.utf8.elementsEqual(b.utf8)
}

/// `names` sorted by UTF-8 bytes, each byte-distinct name once.
func sortedUniqueNames(_ names: [String]) -> [String] {
    var result: [String] = []
    result.reserveCapacity(names.count)
    for name in names.sorted(by: utf8Precedes) where result.last.map({ !utf8Equal($0, name) }) ?? true {
        result.append(name)
    }
    return result
}

/// The index of `name` in `sortedNames` (sorted and unique by UTF-8 bytes), found by binary
/// search on the bytes, or `nil` if it is not there.
func nameIndex(_ name: String, in sortedNames: [String]) -> Int? {
    var low = 0
    var high = sortedNames.count
    while low < high {
        let middle = (low + high) / 2
        if utf8Precedes(sortedNames[middle], name) { low = middle + 1 } else { high = middle }
    }
    return low < sortedNames.count && utf8Equal(sortedNames[low], name) ? low : nil
}
