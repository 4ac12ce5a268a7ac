import Foundation

/// Wall-clock timing for the benchmarks: repeats a body until a time budget is spent (and at
/// least `minimumRuns` times) and returns the sorted durations in seconds.
enum BenchTiming {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func measure(seconds budget: Double, minimumRuns: Int = 5, warmups: Int = 1, _ body: () -> Void) -> [Double] {
        for _ in 0..<warmups { body() }
        var times: [Double] = []
        let deadline = now() + budget
        while now() < deadline || times.count < minimumRuns {
            let start = now()
            body()
            times.append(now() - start)
        }
        return times.sorted()
    }

    static func median(_ sorted: [Double]) -> Double { sorted[sorted.count / 2] }

    /// One JSON object on one line, keys in the given order.
    static func jsonLine(_ pairs: [(String, Any)]) -> String {
        let fields = pairs.map { key, value -> String in
            switch value {
            case let text as String: return "\"\(key)\": \"\(text)\""
            case let number as Double: return "\"\(key)\": \(number.isFinite ? String(format: "%.2f", number) : "null")"
            default: return "\"\(key)\": \(value)"
            }
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
