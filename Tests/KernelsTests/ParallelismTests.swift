import XCTest
@testable import Kernels

final class ParallelismTests: XCTestCase {
    func test_range_whenCountDoesNotDivide_coversEveryIndexOnceInOrder() {
        for count in [1, 2, 7, 13, 100] {
            for chunks in 1...min(count, 9) {
                let ranges = (0..<chunks).map { Parallelism.range($0, of: chunks, in: count) }
                XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0..<count), "count \(count) chunks \(chunks)")
                let sizes = ranges.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
            }
        }
    }
}
