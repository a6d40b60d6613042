import TestSupport
import Allocation

/// Random members and partitions for property tests, drawn from a seeded generator.
struct RandomInputs {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// Pieces member names are made of: ASCII of both cases, digits, non-ASCII letters
    /// (precomposed and decomposed é), an emoji, and characters JSON must escape.
    private static let nameAlphabet: [String] = [
        "a", "b", "z", "Z", "A", "0", "9", "-", "_", ".", "é", "e\u{301}", "ß", "Ω", "日", "😀", "\"", "\\", ":", " ",
    ]
    private static let topicAlphabet: [String] = ["a", "b", "Z", "z", "0", "9", ".", "_", "-"]

    /// A random valid member name of 1–8 pieces.
    mutating func memberName() -> String {
        while true {
            let length = Int.random(in: 1...8, using: &generator)
            let name = (0..<length).map { _ in Self.nameAlphabet.randomElement(using: &generator)! }.joined()
            if MemberName.problem(with: name) == nil { return name }
        }
    }

    /// `count` random member names, possibly with repeats.
    mutating func members(_ count: Int) -> [String] {
        (0..<count).map { _ in memberName() }
    }

    /// A random valid topic of 1–4 characters.
    mutating func topic() -> String {
        let length = Int.random(in: 1...4, using: &generator)
        return (0..<length).map { _ in Self.topicAlphabet.randomElement(using: &generator)! }.joined()
    }

    /// `count` random partitions over `topics` random topics, ids up to `maximumID`, possibly
    /// with repeats.
    mutating func partitions(_ count: Int, topics topicCount: Int, maximumID: Int = 40) -> [Partition] {
        let topics = (0..<max(topicCount, 1)).map { _ in topic() }
        return (0..<count).map { _ in
            Partition(topic: topics.randomElement(using: &generator)!, id: Int.random(in: 0...maximumID, using: &generator))
        }
    }

    /// `values` in a random order.
    mutating func shuffled<T>(_ values: [T]) -> [T] {
        values.shuffled(using: &generator)
    }

    mutating func int(in range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &generator)
    }
}
