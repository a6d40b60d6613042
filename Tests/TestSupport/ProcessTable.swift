import Foundation
import Glibc

/// The host's processes as `/proc` shows them, for tests of what a daemon leaves running.
public enum ProcessTable {
    /// Whether process `pid` exists and has not ended (a zombie has ended).
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        // `pid (comm) STATE ...`: the name may hold spaces and parentheses, the state follows the last `)`.
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    /// The parent of every running process.
    public static func parents() -> [Int32: Int32] {
        var parents: [Int32: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { parents[pid] = parent }
        }
        return parents
    }

    /// Every running descendant of `pid` (children, their children, ...).
    public static func descendants(of pid: Int32) -> [Int32] {
        let parents = parents()
        var found: [Int32] = []
        var frontier: Set<Int32> = [pid]
        while !frontier.isEmpty {
            let children = parents.filter { frontier.contains($0.value) }.map(\.key)
            found += children
            frontier = Set(children)
        }
        return found
    }

    /// The command line of `pid`, its arguments joined by spaces.
    public static func commandLine(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\0").joined(separator: " ")
    }
}
