// swift-tools-version:6.0
import PackageDescription

// Release builds on Linux are one static executable: Swift's runtime,
// FoundationEssentials and glibc linked in, position-dependent. Loading a dynamic one (applying a PIE's
// ~74,000 relocations, resolving libstdc++ and libc symbols, the copy-on-write
// faults on the pages they touch) was most of sluice's start-up: `sluice
// --version` 6.0 -> 3.3 ms (an empty C program: 1.6 ms). The costs: no address
// randomisation for the executable, and user lookups (only a fallback when USER
// and LOGNAME are unset) need the NSS modules of the glibc it was built with.
// See README "Profiling".
let staticExecutable: [LinkerSetting] = [
  .unsafeFlags(["-static-executable"], .when(platforms: [.linux], configuration: .release))
]

let package = Package(
  name: "sluice",
  products: [
    .executable(name: "sluice", targets: ["sluice"]),
    .library(name: "SluiceCore", targets: ["SluiceCore"]),
  ],
  dependencies: [],
  targets: [
    .target(
      name: "SluiceCore", path: "Sources/SluiceCore",
      // Release builds skip the run-time exclusivity checks (the compiler still proves
      // what it can; debug builds and the tests keep the checks): each access to a
      // struct in a class, a global or an escaping closure's capture went through
      // swift_beginAccess, ~8% of a 1,000-run tick's CPU (perf).
      swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
    ),
    .executableTarget(
      name: "sluice", dependencies: ["SluiceCore"], path: "Sources/sluice",
      linkerSettings: staticExecutable
    ),
    // Benchmarks (bench/run.sh): store size/speed, tick overhead, Slurm calls, array submission.
    .executableTarget(
      name: "sluice-bench", dependencies: ["SluiceCore"], path: "Sources/sluice-bench",
      linkerSettings: staticExecutable),
    // The floor the bench times beside the tick: linked as sluice is (static, and
    // FoundationEssentials only), so that it starts as a tick does.
    .executableTarget(
      name: "sluice-floor", dependencies: ["SluiceCore"], path: "Sources/sluice-floor",
      linkerSettings: staticExecutable),
    .testTarget(
      name: "SluiceCoreTests", dependencies: ["SluiceCore"], path: "Tests/SluiceCoreTests",
      resources: []),
  ],
  swiftLanguageModes: [.v6]
)
