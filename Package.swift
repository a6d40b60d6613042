// swift-tools-version:6.0
import PackageDescription

// Layers, each depending only on the ones above it (see DEVELOPERS.md):
//   ControlProtocol        what the daemon and allocatorctl both speak: replies, socket path, session ids, boot clock
//   CZooKeeper, CSystemd   C libraries as system-library targets
//   ZooKeeper              async ZooKeeper client
//   Recipes                Party (membership), SharedSet (partition set), kazoo-compatible Lock
//   SocketServer           Surfaces: a protocol-agnostic line server on a Unix socket (SwiftNIO)
//   Allocation             pure, deterministic allocation strategies (no I/O)
//   ExecAllocation         exec: allocators and hooks as child programs (no ZooKeeper: allocatorctl links it)
//   Coordination           protocol 2's pure state machines: the leader's planning, the follower's life
//   Allocator              the member's state machine (spec §7), joining the layers above
//   allocatord             the daemon executable
// How the two programs are linked (docs/benchmarks.md §4): with lld, relative relocations packed
// (DT_RELR, glibc 2.36: Debian 12) instead of 94 000 RELA entries read at every start, and no
// dynamic symbol table of their own (a static Swift runtime exports 17 000 symbols that no one
// looks up, but every symbol the dynamic linker resolves is looked up there first). Together
// 2.5–3 MB less resident per process; nothing in the programs resolves its own symbols by name.
let leanProgram: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"]),
]

let package = Package(
    name: "allocatord",
    products: [
        .executable(name: "allocatord", targets: ["allocatord"]),
        .executable(name: "allocatorctl", targets: ["allocatorctl"]),
        .library(name: "ZooKeeper", targets: ["ZooKeeper"]),
        .library(name: "Allocation", targets: ["Allocation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CZooKeeper", providers: [.apt(["libzookeeper-mt-dev"])]),
        .systemLibrary(name: "CSystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(
            name: "ZooKeeper",
            dependencies: [
                "CZooKeeper", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        .target(name: "ControlProtocol"),
        .target(name: "Recipes", dependencies: ["ZooKeeper", "ControlProtocol"]),
        .target(name: "SystemdNotifier", dependencies: ["CSystemd"]),
        .target(
            name: "Configuration",
            dependencies: [
                "Allocator", "Allocation", "ControlProtocol", "Coordination", "ZooKeeper", "Yams",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "Allocation"),
        .target(
            name: "ExecAllocation",
            dependencies: [
                "Allocation", .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "Coordination", dependencies: ["Allocation", "ControlProtocol"]),
        .target(
            name: "SocketServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Allocator",
            dependencies: [
                "ZooKeeper", "Recipes", "Allocation", "ExecAllocation", "Coordination", "ControlProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        .target(
            name: "Daemon",
            dependencies: [
                "Allocator", "Allocation", "ExecAllocation", "Recipes", "ZooKeeper", "Configuration", "SocketServer",
                "SystemdNotifier", "ControlProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(name: "allocatord", dependencies: ["Daemon"], linkerSettings: leanProgram),
        // The member's machines alone, measured (issue 21; docs/benchmarks.md).
        .executableTarget(name: "allocatord-machine-bench", dependencies: ["Coordination", "Allocation"], path: "Benchmarks/MachineBench"),
        .executableTarget(
            name: "allocatorctl",
            dependencies: [
                "Allocation", "ExecAllocation", "ControlProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: leanProgram),
        .target(
            name: "TestSupport",
            dependencies: [
                "ZooKeeper", "Allocator", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport"),
        .testTarget(name: "ZooKeeperTests", dependencies: ["ZooKeeper", "TestSupport"]),
        .testTarget(name: "RecipesTests", dependencies: ["Recipes", "TestSupport"]),
        .testTarget(name: "AllocatorTests", dependencies: ["Allocator", "Coordination", "ExecAllocation", "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Allocator", "Recipes", "TestSupport"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Allocator", "Allocation", "ControlProtocol", "Coordination", "SystemdNotifier", "ZooKeeper", "TestSupport"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration", "Coordination", "TestSupport"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Allocation", "TestSupport"]),
        .testTarget(name: "AllocationTests", dependencies: ["Allocation", "TestSupport"]),
        .testTarget(name: "CoordinationTests", dependencies: ["Coordination", "Allocation", "TestSupport"]),
        .testTarget(name: "SocketServerTests", dependencies: ["SocketServer", "TestSupport"]),
        .testTarget(name: "FaultTests", dependencies: ["Allocator", "Allocation", "TestSupport"]),
        .testTarget(name: "SimulationTests", dependencies: ["Coordination", "Allocation", "TestSupport"]),
    ]
)
