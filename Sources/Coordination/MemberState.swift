/// A member's state, published in every document (spec §7).
public enum MemberState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Connecting or joining; no view yet. The share is empty.
    case joining
    /// Connected, view read, allocation current. The share is this member's.
    case active
    /// The connection is lost; the session may still be alive. The last share stands until its
    /// lease runs out.
    case suspended
    /// The session may have expired on the server. The share is empty.
    case lost
    /// Shutting down or stopped. The share is empty.
    case stopped
}
