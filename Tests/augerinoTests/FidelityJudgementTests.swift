@testable import augerino
import Invariance
import XCTest

/// How `bench fidelity` judges a case made from real images against its source case.
final class FidelityJudgementTests: XCTestCase {
    private func outcome(_ widths: [AffineGenerator: Float]) -> FidelityOutcome {
        FidelityOutcome(widths: widths, testMetric: .nan, regression: false, epochs: 0, budget: 0, seconds: 0)
    }

    /// A planted spread adds to the source's own: θ 1.047 planted (±30°) on a source reading θ
    /// 0.8 should read √(1.047² + 0.8²) = 1.318, and passes within 15% of that, not of 1.047.
    func test_aPlantedWidth_isJudgedWithTheSourcesOwn() throws {
        let planted = try XCTUnwrap(FidelityCase.all.first { $0.name == "mnist-rotation-30" })
        XCTAssertEqual(planted.baseline, "mnist-none")
        let source = [outcome([.rotation: 0.8, .shear: 0.4])]
        func rotationRow(_ theta: Float) -> FidelityRow? {
            planted.judge([outcome([.rotation: theta, .shear: 0.4])], baselineOutcomes: source).first { $0.generator == .rotation }
        }
        XCTAssertEqual(try XCTUnwrap(rotationRow(1.30)).passes, true, "1.30 is within 15% of 1.318")
        XCTAssertEqual(try XCTUnwrap(rotationRow(1.047)).passes, false, "the planted width alone is 21% short of planted with the source's")
        XCTAssertEqual(planted.judge([outcome([.rotation: 1.047, .shear: 0.4])]).first { $0.generator == .rotation }?.passes, true,
                       "without a source, the planted width itself")
    }

    /// An unplanted generator passes as none, or within the tolerance of the source's own width;
    /// past that, it fails; a control's limit applies to what lies beyond the source's own.
    func test_unplantedAndControls_areJudgedBeyondTheSource() throws {
        let planted = try XCTUnwrap(FidelityCase.all.first { $0.name == "mnist-rotation-30" })
        let source = [outcome([.rotation: 0.8, .shear: 0.4])]
        func shearPasses(_ theta: Float) -> Bool {
            let rows = planted.judge([outcome([.rotation: 1.3, .shear: theta])], baselineOutcomes: source)
            return rows.first { $0.generator == .shear }?.passes ?? true   // a row left out passed
        }
        XCTAssertTrue(shearPasses(0.45), "slope 0.45 is within 15% of the source's 0.4")
        XCTAssertFalse(shearPasses(0.6), "slope 0.6 is 50% past the source's 0.4")
        XCTAssertTrue(shearPasses(0.02), "none passes")
        let angle = try XCTUnwrap(FidelityCase.all.first { $0.name == "control-rotation-angle-regression" })
        func rotationPasses(_ theta: Float) throws -> Bool {
            try XCTUnwrap(angle.judge([outcome([.rotation: theta])], baselineOutcomes: source).first { $0.generator == .rotation }).passes
        }
        // Beyond the source: √(θ² − 0.8²) as a half-width in degrees must stay below 5°.
        XCTAssertTrue(try rotationPasses(0.805), "√(0.805² − 0.8²) = 0.09: ±2.6° beyond the source")
        XCTAssertFalse(try rotationPasses(1.0), "√(1 − 0.64) = 0.6: ±17° beyond the source")
    }

    /// The source cases are not judged (their own spread is the blank), and asking for a case
    /// brings its source case along, first.
    func test_sourceCases_areShownNotJudged_andRunFirst() throws {
        let none = try XCTUnwrap(FidelityCase.all.first { $0.name == "mnist-none" })
        XCTAssertTrue(none.judge([outcome([.rotation: 0.8])]).allSatisfy { !$0.isJudged })
        let command = try BenchFidelity.parse(["--cases", "fashion-rotation-60,mnist-shear-0.4"])
        XCTAssertEqual(try command.selectedCases().map(\.name), ["mnist-none", "mnist-shear-0.4", "fashion-none", "fashion-rotation-60"])
    }
}
