import Foundation
import Kernels
@testable import NN
import XCTest

/// Tensor memory belongs to a job: buffers cached for reuse while it trains go back to the
/// system when its `TensorContext.with` ends.
final class TensorMemoryTests: XCTestCase {
    /// Resident memory of this process, from /proc/self/statm.
    func residentBytes() throws -> Int {
        let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return try XCTUnwrap(Int(fields[1])) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func test_aJobsCachedBuffers_goBackWhenItEnds_residentMemoryBeforeDuringAndAfter() throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/statm") else { throw XCTSkip("no /proc/self/statm to read resident memory from") }
        TensorMemory.trim()
        let before = try residentBytes()
        let sixtyFourMiB = 16 << 20  // floats
        var during = 0, cachedDuring = 0
        TensorContext.with(.serial) {
            for _ in 0..<4 { _ = Tensor(shape: [sixtyFourMiB], storage: TensorStorage(count: sixtyFourMiB, repeating: 1)) }
            var kept: [Tensor] = []
            // Each above glibc's largest mmap threshold (32 MiB), so each is its own mapping: resident
            // while cached, and gone from the process once freed, whatever the heap held before.
            for size in [sixtyFourMiB, sixtyFourMiB * 3 / 4, sixtyFourMiB * 5 / 8] {
                kept.append(Tensor(shape: [size], storage: TensorStorage(count: size, repeating: 2)))
            }
            kept.removeAll()  // freed: into the cache, still resident
            during = (try? residentBytes()) ?? 0
            cachedDuring = TensorMemory.usage.cached
        }
        let after = try residentBytes()
        XCTAssertGreaterThanOrEqual(cachedDuring, 152 << 20, "the freed buffers wait in the cache while the job runs")
        XCTAssertGreaterThan(during - before, 100 << 20, "resident during the job: before \(before >> 20) MiB, during \(during >> 20) MiB")
        XCTAssertEqual(TensorMemory.usage.cached, 0, "nothing cached once the job's scope ends")
        XCTAssertLessThan(after - before, 32 << 20, "resident after the job: before \(before >> 20) MiB, after \(after >> 20) MiB")
        XCTAssertEqual(TensorMemory.usage.peak, TensorMemory.usage.live, "the next job's peak starts afresh")
    }

    func test_aNestedContext_leavesTheOuterJobsCacheAlone() {
        TensorContext.with(.serial) {
            _ = TensorStorage(count: 1 << 20)
            let cached = TensorMemory.usage.cached
            XCTAssertGreaterThanOrEqual(cached, 4 << 20)
            TensorContext.with(Parallelism(threads: 2)) { _ = TensorStorage(count: 16) }
            XCTAssertEqual(TensorMemory.usage.cached, cached, "only the outermost scope trims")
        }
    }
}
