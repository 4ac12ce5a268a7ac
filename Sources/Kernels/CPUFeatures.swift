import Foundation

/// The instruction-set extensions and cache sizes the kernels care about, as the operating system
/// reports them.
///
/// On Linux the flags come from /proc/cpuinfo, which lists an extension only when both the CPU
/// and the kernel support it (the kernel saves the wider registers), so a flag there is safe to use.
/// The cache sizes come from /sys/devices/system/cpu/cpu0/cache (0 where it cannot be read).
public struct CPUFeatures: Sendable, Equatable {
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool
    /// Bytes of one core's level-1 data cache (AMD Zen 4: 32 KiB; Zen 5 and Intel Sapphire and
    /// Emerald Rapids: 48 KiB), 0 when unknown.
    public var level1DataCache: Int
    /// Bytes of one core's level-2 cache (Zen 4 and Zen 5: 1 MiB; Sapphire and Emerald Rapids:
    /// 2 MiB), 0 when unknown.
    public var level2Cache: Int

    public init(avx2: Bool = false, fma: Bool = false, avx512f: Bool = false, level1DataCache: Int = 0, level2Cache: Int = 0) {
        self.avx2 = avx2
        self.fma = fma
        self.avx512f = avx512f
        self.level1DataCache = level1DataCache
        self.level2Cache = level2Cache
    }

    /// The features of the CPU this process runs on (none when they cannot be read).
    public static let current: CPUFeatures = {
        #if arch(x86_64) && os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return CPUFeatures() }
        var features = CPUFeatures(cpuinfo: text)
        let directory = "/sys/devices/system/cpu/cpu0/cache"
        let caches = (0..<8).compactMap { index -> (level: String, type: String, size: String)? in
            func read(_ name: String) -> String? { try? String(contentsOfFile: "\(directory)/index\(index)/\(name)", encoding: .utf8) }
            guard let level = read("level"), let type = read("type"), let size = read("size") else { return nil }
            return (level, type, size)
        }
        features.setCaches(caches)
        return features
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

    /// Takes the level-1 data and level-2 sizes from the cache entries sysfs lists for one CPU
    /// (each entry's `level`, `type` and `size` files, e.g. "1", "Data", "48K"); an entry that
    /// does not parse is left out.
    public mutating func setCaches(_ entries: [(level: String, type: String, size: String)]) {
        for entry in entries {
            let level = entry.level.trimmingCharacters(in: .whitespacesAndNewlines)
            let type = entry.type.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let bytes = Self.cacheBytes(entry.size) else { continue }
            if level == "1" && type == "Data" { level1DataCache = bytes }
            if level == "2" && (type == "Unified" || type == "Data") { level2Cache = bytes }
        }
    }

    /// Bytes in a sysfs cache size ("48K", "2048K", "1M", "512"), nil unless it is one.
    static func cacheBytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let unit: Int, digits: Substring
        switch trimmed.last {
        case "K": (unit, digits) = (1 << 10, trimmed.dropLast())
        case "M": (unit, digits) = (1 << 20, trimmed.dropLast())
        default: (unit, digits) = (1, Substring(trimmed))
        }
        guard let count = Int(digits), count > 0, count <= (1 << 30) / unit else { return nil }
        return count * unit
    }
}
