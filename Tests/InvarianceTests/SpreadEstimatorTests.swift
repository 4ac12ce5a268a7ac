import Foundation
@testable import Invariance
import NN
import XCTest

final class SpreadEstimatorTests: XCTestCase {
    /// sin a / a inverted on [0, π], with its two ends: R = 1 is no spread, R = 0 the whole circle.
    func test_uniformHalfWidth_invertsTheMeanResultantLength() {
        for a in stride(from: 0.05, through: 3.1, by: 0.15) {
            XCTAssertEqual(Double(SpreadEstimator.uniformHalfWidth(meanResultantLength: sin(a) / a)), a, accuracy: 1e-5)
        }
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: 1), 0)
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: 0), .pi)
    }

    /// Angles uniform in ±a about a different direction per group (one across the ±π seam) read
    /// as spread a, however far apart the groups' directions lie; pooled variance likewise
    /// ignores the groups' means.
    func test_groupStatistics_measureTheSpreadAboutEachGroupsOwnCentre() {
        var random = RandomGenerator(seed: 3)
        let a: Float = 0.6
        let groups = (0..<6000).map { $0 % 3 }
        let angles = groups.map { g in remainder(Float(g) * 1.5 + 0.2 + (random.nextFloat() * 2 - 1) * a, 2 * .pi) }
        let r = SpreadEstimator.meanResultantLength(angles, groups: groups)
        XCTAssertEqual(SpreadEstimator.uniformHalfWidth(meanResultantLength: r), a, accuracy: 0.02)
        let shifted = groups.map { g in Float(g) * 10 + (random.nextFloat() * 2 - 1) * a }
        XCTAssertEqual(SpreadEstimator.withinGroupVariance(shifted, groups: groups), Double(a * a) / 3, accuracy: 0.01)
    }

    /// Theil–Sen's slope stays with the many when a tenth of the points lie far off (a turn read
    /// in the wrong mode), where least squares follows the strays.
    func test_theilSen_ignoresAFewStrayPoints_whereLeastSquaresDoesNot() {
        var random = RandomGenerator(seed: 9)
        let x = (0..<500).map { _ in Double(random.nextFloat() * 2 - 1) }
        let y = x.enumerated().map { i, v in i % 10 == 0 ? (v > 0 ? -3.0 : 3.0) : 0.8 * v + Double(random.nextFloat() - 0.5) * 0.02 }
        XCTAssertEqual(SpreadEstimator.theilSen(x, y), 0.8, accuracy: 0.02)
        XCTAssertLessThan(SpreadEstimator.gainAndError(applied: x, changes: y).gain, 0.5, "least squares follows the strays")
        XCTAssertEqual(SpreadEstimator.theilSen([1, 1, 1], [0, 2, 4]), 0, "no two distinct x: no slope")
    }

    /// The alignment recovers a planted rotation within its class: ±30° planted reads near ±30°,
    /// and none planted reads far below it; nothing here is a weight to tune.
    func test_aPlantedRotation_isReadBackWithinItsClass() throws {
        func read(halfWidth: Float) throws -> Float {
            var random = RandomGenerator(seed: 11)
            var estimator = SpreadEstimator(estimated: [.rotation])
            estimator.alignment.stepsPerLevel = 30
            let estimate = try estimator.estimate(uprightOrUpsideDown(count: 160, size: 16, halfWidth: halfWidth, seed: 1),
                                                  group: SpreadEstimator.grouping(task: .classification(classes: 2), reference: []),
                                                  random: &random)
            return estimate.widths[.rotation]! / 2
        }
        let planted = Float.pi / 6
        let thirty = try read(halfWidth: planted), none = try read(halfWidth: 0)
        print("read ±\(thirty * 180 / .pi)° for ±30° planted, ±\(none * 180 / .pi)° for none")
        XCTAssertEqual(thirty, planted, accuracy: 0.15 * planted, "±30° planted reads ±\(thirty * 180 / .pi)°")
        XCTAssertLessThan(none, planted / 6, "nothing planted reads ±\(none * 180 / .pi)°")
    }

    /// A class turned over the whole circle averages to a disc that no turn brings an image
    /// nearer; its images are turned to one of their own, and the whole circle reads as
    /// nearly that (without it, T shapes read ±71° here and rotated MNIST ±49°). A class within
    /// ±30° keeps its reading.
    func test_aClassTurnedOverTheWholeCircle_readsNearlyTheWholeCircle() throws {
        func read(halfWidth: Float) throws -> Float {
            var random = RandomGenerator(seed: 12)
            var estimator = SpreadEstimator(estimated: Set(AffineGenerator.allCases))
            estimator.alignment.stepsPerLevel = 30
            let shapes = uprightOrUpsideDown(count: 200, size: 16, halfWidth: halfWidth, seed: 2)
            let kept = shapes.targets.indices.filter { shapes.targets[$0] == 0 }   // the upright ones: one mode
            let upright = ImageDataset(images: kept.flatMap { shapes.images[($0 * 256)..<($0 * 256 + 256)] }, channels: 1, height: 16, width: 16,
                                       targets: kept.map { _ in 0 })
            let estimate = try estimator.estimate(upright, group: SpreadEstimator.grouping(task: .classification(classes: 1), reference: []), random: &random)
            return estimate.widths[.rotation]! / 2 * 180 / .pi
        }
        let whole = try read(halfWidth: .pi), thirty = try read(halfWidth: .pi / 6)
        print("read ±\(whole)° for the whole circle, ±\(thirty)° for ±30°")
        XCTAssertGreaterThan(whole, 150, "the whole circle reads ±\(whole)°")
        XCTAssertEqual(thirty, 30, accuracy: 4.5, "±30° reads ±\(thirty)°")
    }

    /// Angles uniform on the whole circle pass Rayleigh's test pooled over their groups (the
    /// reading is then the whole circle, not the ±175° the cut-at-0 resultant leaves); angles
    /// within ±150°, or within ±60° in one group of four, do not.
    func test_theWholeCircle_isTold_fromAPartOfIt() {
        var random = RandomGenerator(seed: 21)
        let groups = (0..<1000).map { $0 % 4 }
        var passed = 0
        for _ in 0..<40 {
            let uniform = groups.map { _ in (random.nextFloat() * 2 - 1) * .pi }
            if SpreadEstimator.consistentWithTheWholeCircle(uniform, groups: groups) { passed += 1 }
        }
        XCTAssertGreaterThanOrEqual(passed, 34, "uniform angles pass about 19 times in 20: \(passed) of 40")
        let partial = groups.map { _ in (random.nextFloat() * 2 - 1) * 150 * .pi / 180 }
        XCTAssertFalse(SpreadEstimator.consistentWithTheWholeCircle(partial, groups: groups))
        let oneGroup = groups.map { g in (random.nextFloat() * 2 - 1) * (g == 0 ? .pi / 3 : .pi) }
        XCTAssertFalse(SpreadEstimator.consistentWithTheWholeCircle(oneGroup, groups: groups))
        let uniform = groups.map { _ in (random.nextFloat() * 2 - 1) * .pi }
        if SpreadEstimator.consistentWithTheWholeCircle(uniform, groups: groups) {
            XCTAssertEqual(SpreadEstimator.reading(.rotation, poses: uniform, groups: groups, deltas: groups.map { _ in 0 }, changes: groups.map { _ in 0 }, gain: 1).width,
                           2 * .pi)
        }
    }

    /// A class that looks the same turned half a turn tells a turn only up to half a turn: spread
    /// over the whole circle, its poses fold into ±90°. Such a class (named by the alignment,
    /// `Templates.halfTurn`) is left out of the turn's reading when its poses span ±78° or more,
    /// and counts as any other within ±30°.
    func test_aFoldedHalfTurnClass_isLeftOutOfTheTurnsReading() {
        var random = RandomGenerator(seed: 22)
        let n = 2000
        let groups = (0..<n).map { $0 % 2 }
        let zeros = [Double](repeating: 0, count: n)
        func read(_ poses: [Float], halfTurn: Set<Int>) -> Float {
            SpreadEstimator.reading(.rotation, poses: poses, groups: groups, deltas: zeros, changes: zeros, gain: 1, halfTurn: halfTurn).width / 2 * 180 / .pi
        }
        let folded = groups.map { g -> Float in (random.nextFloat() * 2 - 1) * (g == 0 ? .pi / 2 : .pi) }
        XCTAssertGreaterThan(read(folded, halfTurn: [0]), 170, "the whole circle, from the class that can tell")
        XCTAssertLessThan(read(folded, halfTurn: []), 140, "pooled with the folded class, the whole circle reads short")
        let narrow = groups.map { _ in (random.nextFloat() * 2 - 1) * .pi / 6 }
        XCTAssertEqual(read(narrow, halfTurn: [0]), 30, accuracy: 2, "within ±30° the half-turn class counts")
    }

    /// Of two classes spread over the whole circle and turned to an exemplar of their own, the
    /// bars (the same turned half a turn) are named a half-turn class; the T shapes are not.
    func test_turnToExemplars_namesTheClassesThatLookTheSameTurnedHalfATurn() {
        var random = RandomGenerator(seed: 21)
        let (size, count) = (16, 40)
        var images: [Float] = []
        for i in 0..<(2 * count) {
            let angle = (random.nextFloat() * 2 - 1) * .pi
            if i < count {
                let (c, s, centre) = (cos(angle), sin(angle), Float(size - 1) / 2)
                for row in 0..<size { for col in 0..<size {
                    let (x, y) = (Float(col) - centre, Float(row) - centre)
                    let (u, v) = (c * x + s * y, -s * x + c * y)
                    images.append((abs(u) < 1.3 && abs(v) < 6 ? 1 : 0) + random.nextFloat(in: -0.05..<0.05))
                } }
            } else {
                images += tShape(angle: angle, size: size, random: &random)
            }
        }
        let eta = Tensor(shape: [2 * count, 6], repeating: 0)
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { 1 / $0.displacement })
        let turns = (1..<24).map { i -> Float in let t = Float(i) * .pi / 12; return t > .pi ? t - 2 * .pi : t }
        let halfTurn = PoseAlignment.turnToExemplars(Tensor(shape: [2 * count, 1, size, size], values: images), eta: eta, mask: mask,
                                                     members: [0: Array(0..<count), 1: Array(count..<(2 * count))], turns: turns,
                                                     margin: 0.1, nearlyAsNear: 0.25)
        XCTAssertEqual(halfTurn, [0], "bars, not T shapes")
    }

    /// Bars turned over the whole circle, whose descent made a bar of their template (a stroke
    /// that repeats after a half turn congeals part of the way, as MNIST's 1s did): the template
    /// says nothing of their spread, but their mean as they are is a disc, so the class is
    /// round. Bars within ±20° of upright, with the same template, are not.
    func test_aClassWhoseMeanAsItIsIsADisc_isRound_whateverItsTemplate() {
        var random = RandomGenerator(seed: 23)
        let (size, count) = (16, 100)
        func bar(_ angle: Float) -> [Float] {
            let (c, s, centre) = (cos(angle), sin(angle), Float(size - 1) / 2)
            return (0..<(size * size)).map { k in
                let (x, y) = (Float(k % size) - centre, Float(k / size) - centre)
                let (u, v) = (c * x + s * y, -s * x + c * y)
                return (abs(u) < 1.3 && abs(v) < 6 ? 1 : 0) + random.nextFloat(in: -0.05..<0.05)
            }
        }
        let upright = bar(0)
        let images = (0..<count).flatMap { _ in bar((random.nextFloat() * 2 - 1) * .pi) }
            + (0..<count).flatMap { _ in bar((random.nextFloat() * 2 - 1) * .pi / 9) }
        let eta = Tensor(shape: [2 * count, 6], repeating: 0)
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { 1 / $0.displacement })
        let members = [0: Array(0..<count), 1: Array(count..<(2 * count))]
        let tensor = Tensor(shape: [2 * count, 1, size, size], values: images)
        XCTAssertEqual(PoseAlignment.roundTemplates(tensor, eta: eta, mask: mask, members: members, templates: [0: upright, 1: upright]), [0],
                       "the bars over the whole circle, not those within ±20°")
        XCTAssertEqual(PoseAlignment.roundTemplates(tensor, eta: eta, mask: mask, members: members, templates: [0: upright, 1: upright],
                                                    stillRoundness: 0), [],
                       "by their template alone, neither")
    }

    /// Two classes whose template is a disc: letters turned over the whole circle, and letters
    /// all upright (a blend of forms that happens to be round, as MNIST's every digit squashed
    /// alike). The upright letters meet their nearest fellow upright (`metUpright`), so only the
    /// turned class is round; without that test, both are.
    func test_aClassOfUprightFormsWithARoundBlend_isNotRound() {
        var random = RandomGenerator(seed: 24)
        let (size, count) = (16, 90)
        let images = (0..<count).flatMap { i in PoseModesTests.letter(i % 3, angle: (random.nextFloat() * 2 - 1) * .pi, random: &random) }
            + (0..<count).flatMap { i in PoseModesTests.letter(i % 3, angle: 0, random: &random) }
        let disc = (0..<(size * size)).map { k -> Float in
            let (x, y) = (Float(k % size) - 7.5, Float(k / size) - 7.5)
            return x * x + y * y < 30 ? 0.4 : 0
        }
        let eta = Tensor(shape: [2 * count, 6], repeating: 0)
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { 1 / $0.displacement })
        let members = [0: Array(0..<count), 1: Array(count..<(2 * count))]
        let tensor = Tensor(shape: [2 * count, 1, size, size], values: images)
        let turned = PoseAlignment.neighbourTurns.map { PoseAlignment.warped(tensor, eta: [Float](repeating: 0, count: 2 * count * 6), mask: mask, turn: $0) }
        let (round, upright) = (PoseAlignment.metUpright(members[0]!, turned: turned, plane: size * size),
                                PoseAlignment.metUpright(members[1]!, turned: turned, plane: size * size))
        XCTAssertLessThan(round, 0.4, "letters over the whole circle meet their nearest fellow at any turn")
        XCTAssertGreaterThan(upright, 0.9, "upright letters meet their nearest fellow upright")
        XCTAssertEqual(PoseAlignment.roundTemplates(tensor, eta: eta, mask: mask, members: members, templates: [0: disc, 1: disc]), [0],
                       "the letters over the whole circle, not the upright ones")
        XCTAssertEqual(PoseAlignment.roundTemplates(tensor, eta: eta, mask: mask, members: members, templates: [0: disc, 1: disc],
                                                    uprightNeighbours: 1.01), [0, 1],
                       "by their template alone, both")
    }

    /// The search turns an image that stands a quarter turn from its template by that quarter
    /// turn, and leaves one that already meets its template where it is.
    func test_theTurnSearch_turnsAnImageAQuarterTurnAway_andLeavesAnAlignedOneAlone() {
        let size = 16
        let upright = uprightOrUpsideDown(count: 1, size: size, halfWidth: 0, seed: 7)
        let template = upright.targets[0] == 0 ? upright.images : upright.images.reversed()   // upright either way
        let turned = TensorContext.withoutGradients {
            Tensor.affineWarp(Tensor(shape: [1, 1, size, size], values: template),
                              theta: AffineAugmentation.transforms(epsilon: Tensor(shape: [1, 6], values: [0, 0, .pi / 2, 0, 0, 0]))).values
        }
        let images = Tensor(shape: [2, 1, size, size], values: template + turned)
        let eta = Tensor(shape: [2, 6], repeating: 0)
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { 1 / $0.displacement })
        let turns = (1..<24).map { i -> Float in let t = Float(i) * .pi / 12; return t > .pi ? t - 2 * .pi : t }
        let count = PoseAlignment.searchTurns(images, eta: eta, mask: mask, groups: [0, 0], templates: [0: template], turns: turns, margin: 0.1,
                                              nearlyAsNear: 0.25)
        let rotation = AffineGenerator.rotation.index
        XCTAssertEqual(count, 1, "one image turns")
        XCTAssertEqual(eta.values[rotation], 0, "the aligned image stays")
        XCTAssertEqual(abs(eta.values[6 + rotation]), .pi / 2, accuracy: 1e-5, "the turned image turns a quarter turn back")
    }

    /// A turn the search finds is the smallest of those nearly as near as the nearest, not
    /// turning among them: an image a turn brings 15% nearer its template (past the margin, but
    /// within a quarter of the nearest of not turning: an upright shirt against a blend of
    /// sleeves) stays where it is; one that two turns bring far nearer takes the smaller of them.
    func test_theTurnChosen_isTheSmallestOfTheNearlyAsNear_notTurningAmongThem() {
        let turns: [Float] = [.pi / 6, .pi / 4, -.pi / 6]
        XCTAssertEqual(PoseAlignment.chosenTurn([1, 0.85, 0.9, 0.95], turns: turns, margin: 0.1, nearlyAsNear: 0), .pi / 6,
                       "by the margin alone, the nearest turn")
        XCTAssertNil(PoseAlignment.chosenTurn([1, 0.85, 0.9, 0.95], turns: turns, margin: 0.1, nearlyAsNear: 0.25),
                     "not turning is nearly as near, and the smallest")
        XCTAssertEqual(PoseAlignment.chosenTurn([1, 0.35, 0.3, 0.9], turns: turns, margin: 0.1, nearlyAsNear: 0.25), .pi / 6,
                       "30° is within a quarter of 45°'s distance, and smaller")
        XCTAssertEqual(PoseAlignment.chosenTurn([1, 0.5, 0.3, 0.9], turns: turns, margin: 0.1, nearlyAsNear: 0.25), .pi / 4,
                       "30° is not")
    }

    /// A straight generator through the pairs' error: round spots shifted by up to ±3 px along x
    /// read back as ±3 px, and along y as none. A spot is the same under every turn, so the
    /// alignment cannot see rotation there (its poses are noise) and it reads as none, not as
    /// the spread of that noise (a first version, with a step normalised per generator and the
    /// width divided by the gain, read ±192°).
    func test_aPlantedShift_isReadBack_andAShapeTheTurnLeavesAlone_readsNoTurn() throws {
        var random = RandomGenerator(seed: 5)
        let (size, count) = (16, 120)
        var images: [Float] = []
        for _ in 0..<count {
            let shift = (random.nextFloat() * 2 - 1) * 3
            for row in 0..<size { for col in 0..<size {
                let (x, y) = (Float(col) - 7.5 - shift, Float(row) - 7.5)
                images.append(exp(-(x * x + y * y) / 8))
            } }
        }
        let spots = ImageDataset(images: images, channels: 1, height: size, width: size, targets: [Float](repeating: 0, count: count))
        var estimator = SpreadEstimator(estimated: [.translateX, .translateY, .rotation])
        estimator.alignment.stepsPerLevel = 30
        let estimate = try estimator.estimate(spots, group: SpreadEstimator.grouping(task: .classification(classes: 1), reference: []), random: &random)
        let pixelsPerUnit: Float = 0.05 * Float(size - 1)   // ε 1 along a translation moves 0.1 of the half side
        let shiftX = estimate.widths[.translateX]! / 2 * pixelsPerUnit, shiftY = estimate.widths[.translateY]! / 2 * pixelsPerUnit
        let turn = estimate.widths[.rotation]! / 2 * 180 / .pi
        print("read ±\(shiftX) px along x, ±\(shiftY) px along y, ±\(turn)° of turn")
        XCTAssertEqual(shiftX, 3, accuracy: 0.45, "±3 px planted along x")
        XCTAssertLessThan(shiftY, 0.5, "nothing planted along y")
        XCTAssertLessThan(turn, 5, "a round spot's turn is not a spread")
        let band = try XCTUnwrap(estimate.bands[.translateX])
        XCTAssertTrue(band.contains(estimate.widths[.translateX]!) && band.lowerBound < band.upperBound,
                      "resamples of the spots put the width inside a band of some breadth: \(band)")
        XCTAssertLessThan(band.upperBound - band.lowerBound, 0.3 * estimate.widths[.translateX]!, "120 spots pin ±3 px closer than that")
        XCTAssertEqual(estimate.bands[.rotation], 0...0, "what the alignment cannot see has no band either")
        XCTAssertEqual(Set(estimate.responses.keys), [.translateX, .translateY, .rotation], "a row per generator read")
        XCTAssertEqual(Set(estimate.responses[.translateX]!.keys), [.translateX, .translateY, .rotation], "a column per generator read")
        XCTAssertEqual(estimate.responses[.translateX]![.translateX], estimate.gains[.translateX], "the diagonal is the gain")
        XCTAssertEqual(estimate.responses[.translateX]![.translateX]!, 1, accuracy: 0.15, "a known shift along x moves the reading along x")
        XCTAssertEqual(estimate.responses[.translateX]![.translateY]!, 0, accuracy: 0.15, "and a shift along y does not: \(estimate.responses)")
        XCTAssertEqual(estimate.responses[.translateY]![.translateX]!, 0, accuracy: 0.15, "nor the other way: \(estimate.responses)")
    }

    /// A regression's groups are quantiles of its target, not kinds of thing, so its alignment
    /// does not search turns against their templates; a classification's does.
    func test_theTurnSearch_isOffForRegression_andOnForClassification() throws {
        func estimator(_ task: LearningTask) -> SpreadEstimator {
            InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 4, inputChannels: 16, outputs: 1, depth: 1),
                              augmentation: AffineAugmentation(learned: [.rotation]), task: task, settings: TrainingSettings()).spreadEstimator
        }
        XCTAssertEqual(estimator(.regression).alignment.turnStep, 0)
        XCTAssertGreaterThan(estimator(.classification(classes: 2)).alignment.turnStep, 0)
        XCTAssertEqual(estimator(.regression).alignment.steps * 2, estimator(.classification(classes: 2)).alignment.steps, "the search's second descent")
        XCTAssertTrue(estimator(.regression).groupsFollowATarget, "a regression's groups are quantiles of its target")
        XCTAssertFalse(estimator(.classification(classes: 2)).groupsFollowATarget)
        // And a regression's alignment runs without one (a first draft of the round-class turn
        // divided by the turn step 0 before asking whether there is a search).
        var regression = estimator(.regression)
        regression.alignment.stepsPerLevel = 2
        var random = RandomGenerator(seed: 1)
        let shapes = uprightOrUpsideDown(count: 20, size: 12, halfWidth: 0.3, seed: 3)
        XCTAssertNoThrow(try regression.estimate(shapes, group: SpreadEstimator.grouping(task: .regression, reference: shapes.targets), random: &random))
    }

    /// A regression whose target is the angle: within a decile the angle still spans a tenth of
    /// its range, but the deciles' templates turn with the target, so rotation reads as none
    /// (the target changes along it) and the shifts, which do not follow it, are still read. A
    /// target beside the turn (drawn apart from it) leaves the turn's spread to read.
    func test_aTargetThatIsTheAngle_readsNoTurn_whileATargetBesideTheTurnLeavesItsSpread() throws {
        func read(targetIsTheAngle: Bool) throws -> SpreadEstimator.Estimate {
            var draw = RandomGenerator(seed: 6)
            let (count, size) = (200, 16)
            let angles = (0..<count).map { _ in (draw.nextFloat() - 0.5) * (targetIsTheAngle ? .pi : .pi / 3) }   // ±90° or ±30°
            let images = angles.flatMap { tShape(angle: $0, size: size, random: &draw) }
            let targets = targetIsTheAngle ? angles : angles.map { _ in draw.nextFloat() }
            var estimator = SpreadEstimator(estimated: [.translateX, .translateY, .rotation])
            (estimator.alignment.stepsPerLevel, estimator.alignment.turnStep, estimator.groupsFollowATarget) = (30, 0, true)
            var random = RandomGenerator(seed: 13)
            return try estimator.estimate(ImageDataset(images: images, channels: 1, height: size, width: size, targets: targets),
                                          group: SpreadEstimator.grouping(task: .regression, reference: targets), random: &random)
        }
        let angle = try read(targetIsTheAngle: true), beside = try read(targetIsTheAngle: false)
        let degrees = { (theta: Float) in theta / 2 * 180 / .pi }
        print("target the angle: trends \(angle.targetTrends), follows \(angle.followsTarget); " +
              "beside: trends \(beside.targetTrends), rotation ±\(degrees(beside.widths[.rotation]!))°")
        XCTAssertEqual(angle.followsTarget, [.rotation], "the target is the angle, and only that")
        XCTAssertEqual(angle.widths[.rotation], 0, "so rotation reads as none")
        // The deciles' mean angles run from about −81° to +81°: their templates turn that far.
        XCTAssertEqual(try XCTUnwrap(angle.targetTrends[.rotation]).move * 180 / .pi, 162, accuracy: 30)
        XCTAssertTrue(beside.followsTarget.isEmpty, "a target drawn apart from the turn is not followed: \(beside.targetTrends)")
        XCTAssertEqual(degrees(beside.widths[.rotation]!), 30, accuracy: 4.5, "±30° within every group")
    }

    /// The spread objective reads the widths before the first epoch and then holds them: the
    /// network trains, the widths do not move.
    func test_theSpreadObjective_setsTheWidthsFromTheReadingAndHoldsThem() throws {
        var settings = TrainingSettings()
        (settings.epochs, settings.batchSize, settings.objective, settings.seed) = (2, 32, .spread, 3)
        let trainer = InvarianceTrainer(network: NetworkSpec(architecture: .mlp, width: 16, inputChannels: 144, outputs: 2, depth: 1),
                                        augmentation: AffineAugmentation(learned: [.rotation, .translateX]), task: .classification(classes: 2),
                                        settings: settings)
        trainer.spreadEstimator.alignment.stepsPerLevel = 8
        let data = uprightOrUpsideDown(count: 64, halfWidth: .pi / 6, seed: 4)
        let before = trainer.network.parameters.map(\.tensor.values)
        _ = try trainer.trainEpoch(data, test: data)
        let estimate = try XCTUnwrap(trainer.spreadEstimate, "the first epoch reads the spread")
        let first = trainer.augmentation.widthValues
        for generator in [AffineGenerator.rotation, .translateX] {
            XCTAssertEqual(first[generator]!, max(estimate.widths[generator]!, 1e-6), accuracy: 1e-4, "\(generator) is the reading")
        }
        XCTAssertGreaterThan(first[.rotation]!, 0.5, "±30° planted reads as a turn")
        XCTAssertEqual(first[.scale], 0, "a generator not learned stays at 0")
        _ = try trainer.trainEpoch(data, test: data)
        XCTAssertEqual(trainer.augmentation.widthValues, first, "the widths are held")
        XCTAssertNotEqual(trainer.network.parameters.map(\.tensor.values), before, "the network trains")
    }
}
