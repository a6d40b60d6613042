/// What `members` answers (spec §9, §14): every member with its record, its role and whether
/// the leader awaits it; `agree` once nobody is awaited and every member is allocatord's.
public struct MembersReply: Codable, Sendable, Equatable {
    /// One member of the group.
    ///
    /// An allocatord member is written with its record's fields (`null` for one it did not
    /// give); a member whose node is not allocatord's (a kiel consumer) has no record and is
    /// written with `"metadata":null` instead.
    public struct Entry: Codable, Sendable, Equatable {
        /// What an allocatord member wrote in its member node (spec §4, §14).
        public struct Record: Sendable, Equatable {
            public var host: String?
            public var pid: Int?
            /// The allocatord version it runs.
            public var allocatord: String?
            /// The strategy its configuration names.
            public var strategy: String?
            /// The latest epoch it acknowledges.
            public var ackedEpoch: Int64
            /// Its share relative to the others'.
            public var weight: Int

            public init(host: String?, pid: Int?, allocatord: String?, strategy: String?, ackedEpoch: Int64, weight: Int) {
                self.host = host
                self.pid = pid
                self.allocatord = allocatord
                self.strategy = strategy
                self.ackedEpoch = ackedEpoch
                self.weight = weight
            }
        }

        public var member: String
        /// `leader` or `follower`.
        public var role: String
        /// Whether the leader waits for this member's acknowledgement.
        public var awaited: Bool
        /// `nil` for a member whose node is not allocatord's.
        public var record: Record?

        public init(member: String, role: String, awaited: Bool, record: Record?) {
            self.member = member
            self.role = role
            self.awaited = awaited
            self.record = record
        }

        enum CodingKeys: String, CodingKey {
            case member, role, awaited, metadata, host, pid, allocatord, strategy, weight
            case ackedEpoch = "acked_epoch"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            member = try container.decode(String.self, forKey: .member)
            role = try container.decode(String.self, forKey: .role)
            awaited = try container.decode(Bool.self, forKey: .awaited)
            guard !container.contains(.metadata) else {
                record = nil
                return
            }
            record = Record(
                host: try container.decodeIfPresent(String.self, forKey: .host),
                pid: try container.decodeIfPresent(Int.self, forKey: .pid),
                allocatord: try container.decodeIfPresent(String.self, forKey: .allocatord),
                strategy: try container.decodeIfPresent(String.self, forKey: .strategy),
                ackedEpoch: try container.decode(Int64.self, forKey: .ackedEpoch),
                weight: try container.decode(Int.self, forKey: .weight))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(member, forKey: .member)
            try container.encode(role, forKey: .role)
            try container.encode(awaited, forKey: .awaited)
            guard let record else {
                try container.encodeNil(forKey: .metadata)
                return
            }
            try container.encode(record.host, forKey: .host)
            try container.encode(record.pid, forKey: .pid)
            try container.encode(record.allocatord, forKey: .allocatord)
            try container.encode(record.strategy, forKey: .strategy)
            try container.encode(record.ackedEpoch, forKey: .ackedEpoch)
            try container.encode(record.weight, forKey: .weight)
        }
    }

    public var members: [Entry]
    /// The group's epoch, as the leader's summary says; 0 before the first.
    public var epoch: Int64
    /// The summary's digest of the mapping the leader grants toward (spec §4); empty before the
    /// first summary.
    public var digest: String
    /// Whether the group agrees: the leader has written a summary, awaits nobody, and every
    /// member is allocatord's.
    public var agree: Bool

    public init(members: [Entry], epoch: Int64, digest: String, agree: Bool) {
        self.members = members
        self.epoch = epoch
        self.digest = digest
        self.agree = agree
    }
}
