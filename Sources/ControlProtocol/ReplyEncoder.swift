import FoundationEssentials

/// Writes the socket's JSON replies (spec §9) as one line each: keys sorted, no escaped
/// slashes, and `null` for what is unknown (the reply types write every key, never leave one
/// out). The document and `assignments` are not written here: their key order and share format
/// are the spec's (`MemberDocument.json`, `JSONText`).
public enum ReplyEncoder {
    /// `reply` as one line of JSON, without the newline.
    public static func line(_ reply: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(reply) else { return #"{"error":{"code":"internal","message":"unencodable reply"}}"# }
        return String(decoding: data, as: UTF8.self)
    }
}
