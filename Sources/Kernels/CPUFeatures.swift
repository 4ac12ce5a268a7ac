import Foundation

/// The instruction-set extensions the kernels care about, as the operating system reports them.
///
/// On Linux the flags come from /proc/cpuinfo, which lists an extension only when both the CPU
/// and the kernel support it (the kernel saves the wider registers), so a flag there is safe to use.
public struct CPUFeatures: Sendable, Equatable {
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool

    public init(avx2: Bool = false, fma: Bool = false, avx512f: Bool = false) {
        self.avx2 = avx2
        self.fma = fma
        self.avx512f = avx512f
    }

    /// The features of the CPU this process runs on (none when they cannot be read).
    public static let current: CPUFeatures = {
        #if arch(x86_64) && os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return CPUFeatures() }
        return CPUFeatures(cpuinfo: text)
        #else
        return CPUFeatures()
        #endif
    }()

    /// Parses the first "flags" line of a /proc/cpuinfo text.
    public init(cpuinfo: String) {
        self.init()
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return }
        let flags = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        avx2 = flags.contains("avx2")
        fma = flags.contains("fma")
        avx512f = flags.contains("avx512f")
    }
}
