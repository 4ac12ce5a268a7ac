import Foundation
@testable import Invariance
import NN
import XCTest

/// Mirrors and quarter turns: the elements against the warp they stand for, the learned
/// probabilities and their score-function gradient, and the spread's reading of them.
final class SymmetryTests: XCTestCase {
    /// Each element's pixel permutation is the bilinear warp by its matrix (at whole pixels the
    /// warp is exact): the naive twin is the warp itself.
    func test_elements_moveThePixels_asTheWarpByTheirMatrix() {
        var random = RandomGenerator(seed: 3)
        let (c, h, w) = (2, 5, 5)
        let image = (0..<(c * h * w)).map { _ in random.nextFloat() }
        let elements = SymmetryElement.reached(by: Set(SymmetryFamily.allCases))
        XCTAssertEqual(elements.count, 8)
        XCTAssertEqual(Set(elements.map(\.matrix)).count, 8, "the three reflections reach all eight symmetries of the square")
        for element in elements {
            let m = element.matrix.map(Float.init)
            let warped = Tensor.affineWarp(Tensor(shape: [1, c, h, w], values: image), theta: Tensor(shape: [1, 2, 3], values: [m[0], m[1], 0, m[2], m[3], 0])).values
            let moved = element.apply(to: image, planes: c, height: h, width: w)
            for (a, b) in zip(moved, warped) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(element.applied)") }
            XCTAssertEqual(element.product(element.inverse), .identity)
            // A turn (determinant +1) is the rotation generator's warp by its angle; a reflection has none.
            let determinant = element.matrix[0] * element.matrix[3] - element.matrix[1] * element.matrix[2]
            if let angle = element.turnAngle {
                let turned = SymmetrySpread.turned(image, angles: [angle], channels: c, height: h, width: w)
                for (a, b) in zip(moved, turned) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(element.applied) as a turn of \(angle)") }
            } else {
                XCTAssertEqual(determinant, -1, "\(element.applied)")
            }
        }
        XCTAssertEqual(elements.filter { $0.turnAngle != nil }.count, 4)
        // Non-square images: the mirrors still move pixels onto pixels.
        let wide = (0..<12).map(Float.init)  // 3 rows of 4
        XCTAssertEqual(SymmetryElement([true, false, false]).apply(to: wide, planes: 1, height: 3, width: 4), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8])
        XCTAssertEqual(SymmetryElement([false, true, false]).apply(to: wide, planes: 1, height: 3, width: 4), [8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3])
        XCTAssertFalse(SymmetryFamily.transpose.applies(height: 3, width: 4))
        XCTAssertEqual(SymmetryFamily.transpose.leftOutBecause(height: 3, width: 4), "transpose needs square images; these are 3×4 pixels (height × width)")
        XCTAssertNil(SymmetryFamily.horizontalFlip.leftOutBecause(height: 3, width: 4))
        // A transpose with one mirror reaches four elements and generates the whole group.
        XCTAssertEqual(SymmetryElement.reached(by: [.horizontalFlip, .transpose]).count, 4)
        XCTAssertEqual(SymmetryElement.group(generatedBy: [.horizontalFlip, .transpose]).count, 8)
        XCTAssertEqual(SymmetryElement.group(generatedBy: [.horizontalFlip, .verticalFlip]).count, 4)
    }

    /// p = ½·σ(w): each family is drawn as often as its probability, the others never, and the
    /// transforms carry the draws' reflections (determinant −1 for an odd number of them).
    func test_draws_followTheProbabilities_andTheTransformsCarryThem() {
        let symmetry = SymmetryAugmentation(learned: [.horizontalFlip, .transpose], initialProbabilities: [.horizontalFlip: 0.4, .transpose: 0.1])
        XCTAssertEqual(symmetry.probabilityValues[.horizontalFlip]!, 0.4, accuracy: 1e-5)
        XCTAssertEqual(symmetry.probabilityValues[.transpose]!, 0.1, accuracy: 1e-5)
        XCTAssertEqual(symmetry.probabilityValues[.verticalFlip], 0, "not learned: never drawn")
        var random = RandomGenerator(seed: 9)
        let n = 20_000
        let draws = symmetry.sample(count: n, random: &random)
        for (family, p) in [(SymmetryFamily.horizontalFlip, 0.4), (.transpose, 0.1), (.verticalFlip, 0)] {
            let share = Double(draws.filter { $0.applies(family) }.count) / Double(n)
            XCTAssertEqual(share, p, accuracy: 4 * (p * (1 - p) / Double(n)).squareRoot() + 1e-9, family.rawValue)
        }
        let augmentation = AffineAugmentation(learned: [.rotation], initialWidths: [.rotation: 0.5], symmetry: symmetry)
        let (transforms, mirrors) = augmentation.sampleTransformsAndMirrors(count: 64, random: &random)
        let t = transforms.values
        for (i, mirror) in try! XCTUnwrap(mirrors).enumerated() {
            let determinant = t[i * 6] * t[i * 6 + 4] - t[i * 6 + 1] * t[i * 6 + 3]
            let reflections = SymmetryFamily.allCases.filter(mirror.applies).count
            XCTAssertEqual(determinant, reflections % 2 == 1 ? -1 : 1, accuracy: 1e-4)
        }
        symmetry.setProbabilities([.horizontalFlip: 0.5, .transpose: 0.2])
        XCTAssertEqual(symmetry.probabilityValues[.horizontalFlip]!, 0.5, accuracy: 1e-5)
        XCTAssertEqual(symmetry.probabilityValues[.transpose]!, 0.2, accuracy: 1e-5)
    }

    /// The score-function estimate with its leave-one-out baseline is unbiased: averaged over
    /// many batches it is ∂E[L]/∂w = (L(mirrored) − L(not))·∂p/∂w, for losses that depend on the
    /// draw (and noise that does not).
    func test_scoreFunctionGradient_isUnbiased() {
        let symmetry = SymmetryAugmentation(learned: [.horizontalFlip, .verticalFlip], initialProbabilities: [.horizontalFlip: 0.3, .verticalFlip: 0.15])
        var random = RandomGenerator(seed: 21)
        let (batches, n) = (4000, 16)
        var sum = [Double](repeating: 0, count: 3)
        for _ in 0..<batches {
            let draws = symmetry.sample(count: n, random: &random)
            // Mirrored left to right costs 1.5 more, upside down 0.5 less, plus noise.
            let losses = draws.map { d in 1 + (d.applies(.horizontalFlip) ? 1.5 : 0) - (d.applies(.verticalFlip) ? 0.5 : 0) + (random.nextFloat() - 0.5) }
            for (k, g) in symmetry.scoreFunctionGradient(losses: losses, draws: draws).enumerated() { sum[k] += Double(g) }
        }
        let w = symmetry.rawLogits.values.map(Double.init)
        let slope = { (k: Int) -> Double in let s = 1 / (1 + exp(-w[k])); return s * (1 - s) / 2 }
        XCTAssertEqual(sum[0] / Double(batches), 1.5 * slope(0), accuracy: 0.05 * 1.5 * slope(0))
        XCTAssertEqual(sum[1] / Double(batches), -0.5 * slope(1), accuracy: 0.1 * 0.5 * slope(1))
        XCTAssertEqual(sum[2], 0, "not learned")
        // The surrogate hands the estimate to backward() as the logits' gradient.
        let gradient: [Float] = [0.25, -0.5, 0]
        symmetry.surrogate(gradient: gradient).backward()
        XCTAssertEqual(symmetry.rawLogits.gradient?.values, gradient)
    }

    /// Two classes of asymmetric shapes (an L and a P, at small random offsets and with noise):
    /// half mirrored within their class reads p near ½; none mirrored reads none; a class of
    /// symmetric shapes looks the same mirrored and says nothing.
    func test_spreadReading_findsTheMirroredHalf_andNoneWhereNoneIs() {
        func shape(_ kind: Int, dx: Int, dy: Int, random: inout RandomGenerator) -> [Float] {
            var image = [Float](repeating: 0, count: 144)
            func set(_ x: Int, _ y: Int) { let (xx, yy) = (x + dx, y + dy); if (0..<12).contains(xx) && (0..<12).contains(yy) { image[yy * 12 + xx] = 1 } }
            for y in 1...10 { set(2, y); set(3, y) }                                          // a bold stem on the left
            if kind == 0 { for x in 2...9 { set(x, 9); set(x, 10) } }                          // L: a foot to the right
            else { for x in 2...8 { set(x, 1); set(x, 2); set(x, 5); set(x, 6) }; for y in 1...6 { set(7, y); set(8, y) } }  // P: a bowl
            return image.map { $0 + 0.1 * (random.nextFloat() - 0.5) }
        }
        func data(mirrored: Float, random: inout RandomGenerator) -> ([Float], [Int]) {
            var images: [Float] = [], groups: [Int] = []
            for i in 0..<160 {
                var image = shape(i % 2, dx: random.nextInt(below: 3) - 1, dy: random.nextInt(below: 3) - 1, random: &random)
                if random.nextFloat() < mirrored { image = SymmetryElement([true, false, false]).apply(to: image, planes: 1, height: 12, width: 12) }
                images += image
                groups.append(i % 2)
            }
            return (images, groups)
        }
        var random = RandomGenerator(seed: 4)
        let reader = SymmetrySpread(families: [.horizontalFlip, .verticalFlip])
        let (half, groups) = data(mirrored: 0.5, random: &random)
        let (read, orientations) = reader.read(half, channels: 1, height: 12, width: 12, groups: groups, random: &random)
        let oriented = SymmetrySpread.orient(half, orientations, channels: 1, height: 12, width: 12)
        // Each class could be half mirrored: ½ itself, not the less common half's share.
        XCTAssertEqual(read.probabilities[.horizontalFlip], 0.5, "\(read)")
        XCTAssertLessThan(read.pooled[.horizontalFlip] ?? 1, 0.5, "\(read)")
        XCTAssertLessThan(read.probabilities[.verticalFlip] ?? 1, 0.05, "\(read)")
        let band = try! XCTUnwrap(read.bands[.horizontalFlip])
        XCTAssertTrue(band.lowerBound <= read.probabilities[.horizontalFlip]! && read.probabilities[.horizontalFlip]! <= band.upperBound + 1e-6)
        // Turned to their class's form, the images of a class lean to one side (the stem's).
        func leansLeft(_ i: Int) -> Bool {
            var balance: Float = 0
            for y in 0..<12 { for x in 0..<12 { balance += (x < 6 ? 1 : -1) * oriented[i * 144 + y * 12 + x] } }
            return balance > 0
        }
        for g in 0..<2 {
            XCTAssertEqual(Set((0..<160).filter { groups[$0] == g }.map(leansLeft)).count, 1, "class \(g): every image turned to one side \((0..<160).filter { groups[$0] == g }.map(leansLeft)) \(read)")
        }
        // A third mirrored is not half: its share.
        let (third, _) = data(mirrored: 0.3, random: &random)
        let partly = reader.read(third, channels: 1, height: 12, width: 12, groups: groups, random: &random).estimate
        XCTAssertEqual(partly.probabilities[.horizontalFlip] ?? 0, 0.3, accuracy: 0.08, "\(partly)")
        let (none, _) = data(mirrored: 0, random: &random)
        let plain = reader.read(none, channels: 1, height: 12, width: 12, groups: groups, random: &random).estimate
        XCTAssertLessThan(plain.probabilities[.horizontalFlip] ?? 1, 0.05, "\(plain)")
        XCTAssertFalse(plain.noOneForm)
        // A few images mirrored among few: the resamples reach below 0.05, and a mirror not
        // surely there is not applied.
        let (few, _) = data(mirrored: 0.06, random: &random)
        let unsure = reader.read(few, channels: 1, height: 12, width: 12, groups: groups, random: &random).estimate
        XCTAssertEqual(unsure.probabilities[.horizontalFlip], 0, "\(unsure)")
        XCTAssertGreaterThan(unsure.pooled[.horizontalFlip] ?? 0, 0, "some images were read mirrored: \(unsure)")
        XCTAssertLessThan(unsure.bands[.horizontalFlip]?.lowerBound ?? 1, SymmetrySpread.none, "\(unsure)")
        XCTAssertTrue(plain.formFits.values.allSatisfy { $0 <= SymmetrySpread.oneForm }, "\(plain.formFits)")
        // A plus sign and a square's outline look the same mirrored: too few images show an
        // orientation, so ½. (Their distances are all noise; in a class of n images each image
        // is a 1/n part of its template, which brings it nearer as it is by about 2/n of that
        // noise: many images, so that this stays under the margin.)
        var plus = [Float](repeating: 0, count: 144), outline = plus
        for k in 2...9 { plus[5 * 12 + k] = 1; plus[k * 12 + 5] = 1; plus[6 * 12 + k] = 1; plus[k * 12 + 6] = 1 }
        for k in 2...9 { outline[2 * 12 + k] = 1; outline[9 * 12 + k] = 1; outline[k * 12 + 2] = 1; outline[k * 12 + 9] = 1 }
        let symmetric = reader.read((0..<400).flatMap { i in (i % 2 == 0 ? plus : outline).map { $0 + 0.1 * (random.nextFloat() - 0.5) } }, channels: 1, height: 12, width: 12,
                                    groups: (0..<400).map { $0 % 2 }, random: &random).estimate
        XCTAssertEqual(symmetric.probabilities[.horizontalFlip], 0.5)
        XCTAssertEqual(symmetric.shown[.horizontalFlip], 0)
    }

    /// Classes that each mix every shape (labels that say nothing of the shape, as digits
    /// labelled by their pose) have no one form to compare mirror images with: each class's
    /// template is no nearer its images than the whole set's, and every mirror reads none.
    func test_spreadReading_ofClassesWithoutOneForm_readsNone() {
        let size = 14
        func shape(_ kind: Int, random: inout RandomGenerator) -> [Float] {
            var image = [Float](repeating: 0, count: size * size)
            func set(_ x: Int, _ y: Int) { image[(y + 2) * size + x + 3] = 1 }
            for y in 0...9 { set(0, y); set(1, y) }                                            // a bold stem
            switch kind {
            case 0: for x in 0...7 { set(x, 8); set(x, 9) }                                    // L
            case 1: for x in 0...6 { set(x, 0); set(x, 1); set(x, 4); set(x, 5) }; for y in 0...5 { set(6, y) }  // P
            default: for x in 0...7 { set(x, 0); set(x, 1) }; for x in 0...5 { set(x, 4); set(x, 5) }            // F
            }
            var shaped = image.map { $0 + 0.1 * (random.nextFloat() - 0.5) }
            if random.nextFloat() < 0.5 { shaped = SymmetryElement([true, false, false]).apply(to: shaped, planes: 1, height: size, width: size) }
            return shaped
        }
        var random = RandomGenerator(seed: 11)
        let groups = (0..<180).map { $0 % 3 }, kinds = groups.map { _ in random.nextInt(below: 3) }
        let images = kinds.flatMap { shape($0, random: &random) }
        let reader = SymmetrySpread(families: [.horizontalFlip, .verticalFlip, .transpose])
        let (read, orientations) = reader.read(images, channels: 1, height: size, width: size, groups: groups, random: &random)
        XCTAssertTrue(read.noOneForm, "\(read.formFits)")
        XCTAssertTrue(read.formFits.values.allSatisfy { $0 > SymmetrySpread.oneForm }, "\(read.formFits)")
        for family in SymmetryFamily.allCases { XCTAssertEqual(read.probabilities[family], 0, "\(family): \(read)") }
        XCTAssertTrue(orientations.allSatisfy { $0 == .identity })
        // The same images labelled by their shape: each class has one form, half of it mirrored.
        let byShape = reader.read(images, channels: 1, height: size, width: size, groups: kinds, random: &random).estimate
        XCTAssertFalse(byShape.noOneForm, "\(byShape.formFits)")
        XCTAssertEqual(byShape.probabilities[.horizontalFlip] ?? 0, 0.5, accuracy: 0.1, "\(byShape)")
    }

    /// Shapes turned within a quarter turn (±45°), none mirrored, read with all three families:
    /// none. Read without turns, a turned shape's mirror (its form's mirror turned the other
    /// way) can fit the class's template, a blend of the turns, better than the shape does.
    func test_spreadReading_ofShapesTurnedPartWay_findsNoMirror() {
        let size = 20
        func shape(_ kind: Int, random: inout RandomGenerator) -> [Float] {
            var image = [Float](repeating: 0, count: size * size)
            func set(_ x: Int, _ y: Int) { image[(y + 3) * size + x + 4] = 1 }
            for y in 0...13 { set(0, y); set(1, y) }                                           // a bold stem on the left
            if kind == 0 { for x in 0...10 { set(x, 12); set(x, 13) } }                         // L: a foot to the right
            else { for x in 0...9 { set(x, 0); set(x, 1); set(x, 6); set(x, 7) }; for y in 0...7 { set(9, y); set(10, y) } }  // P: a bowl
            return image.map { $0 + 0.1 * (random.nextFloat() - 0.5) }
        }
        var random = RandomGenerator(seed: 7)
        let groups = (0..<240).map { $0 % 2 }
        let upright = groups.flatMap { shape($0, random: &random) }
        let turns = groups.map { _ in (random.nextFloat() - 0.5) * .pi / 2 }
        let turned = SymmetrySpread.turned(upright, angles: turns, channels: 1, height: size, width: size)
        let reader = SymmetrySpread(families: [.horizontalFlip, .verticalFlip, .transpose])
        let read = reader.read(turned, channels: 1, height: size, width: size, groups: groups, random: &random).estimate
        for family in SymmetryFamily.allCases { XCTAssertLessThan(read.probabilities[family] ?? 1, SymmetrySpread.none, "\(family): \(read)") }
        var withoutTurns = reader
        withoutTurns.turnStep = 0
        let unturned = withoutTurns.read(turned, channels: 1, height: size, width: size, groups: groups, random: &random).estimate
        XCTAssertTrue(SymmetryFamily.allCases.contains { unturned.probabilities[$0]! >= SymmetrySpread.none }, "read without turns: \(unturned)")
    }

    /// Mirrors are read on images centred on their mass: a blob anywhere ends in the middle.
    func test_centredOnMass_movesEachImagesMassToTheMiddle() {
        let (h, w) = (15, 15)
        var images: [Float] = []
        for (x0, y0) in [(2, 3), (9, 6), (7, 7)] {
            var image = [Float](repeating: 0, count: h * w)
            for y in y0..<(y0 + 3) { for x in x0..<(x0 + 4) { image[y * w + x] = 1 } }
            images += image
        }
        let centred = SymmetrySpread.centredOnMass(images, channels: 1, height: h, width: w)
        for i in 0..<3 {
            var (mass, sx, sy): (Float, Float, Float) = (0, 0, 0)
            for k in 0..<(h * w) { let v = centred[i * h * w + k]; (mass, sx, sy) = (mass + v, sx + v * Float(k % w), sy + v * Float(k / w)) }
            XCTAssertEqual(mass, 12, accuracy: 0.01, "image \(i): the shift keeps the blob whole")
            XCTAssertEqual(sx / mass, 7, accuracy: 0.05, "image \(i)")
            XCTAssertEqual(sy / mass, 7, accuracy: 0.05, "image \(i)")
        }
    }

    /// One probability serves every class: classes that agree pool; when they differ, the
    /// probability is the rate of the class surely lowest, whatever the others hold.
    func test_classesThatDisagree_areHeldToTheStrictest() {
        func readings(_ perClass: [(shown: Int, applied: Int)]) -> ([Int], [SymmetrySpread.Reading]) {
            var groups: [Int] = [], readings: [SymmetrySpread.Reading] = []
            for (g, c) in perClass.enumerated() {
                for i in 0..<c.shown {
                    groups.append(g)
                    let element = SymmetryElement([i < c.applied, false, false])
                    readings.append(.init(element: element, shows: [.horizontalFlip], unturned: element))
                }
            }
            return (groups, readings)
        }
        // Every class could be half mirrored: ½, though the less common halves pool to 0.47.
        let (halves, halvesReadings) = readings([(100, 48), (100, 45), (100, 52)])
        let half = SymmetrySpread.probability(.horizontalFlip, images: Array(halves.indices), groups: halves, readings: halvesReadings)
        XCTAssertEqual(half.p, 0.5)
        XCTAssertEqual(half.pooled, (48 + 45 + 48) / 300, accuracy: 1e-6)
        let (agreeing, agreeingReadings) = readings([(100, 30), (100, 27), (100, 67)])
        let pooled = SymmetrySpread.probability(.horizontalFlip, images: Array(agreeing.indices), groups: agreeing, readings: agreeingReadings)
        XCTAssertTrue(pooled.classesAgree)
        let minorities: Float = 30 + 27 + 33
        XCTAssertEqual(pooled.p, minorities / 300, accuracy: 1e-6, "each class's less common orientation, pooled")
        let (differing, differingReadings) = readings([(100, 48), (100, 0), (100, 40)])
        let strict = SymmetrySpread.probability(.horizontalFlip, images: Array(differing.indices), groups: differing, readings: differingReadings)
        XCTAssertFalse(strict.classesAgree)
        XCTAssertEqual(strict.p, 0, "the strictest class's own rate")
        // The strictest is the class surely lowest: 1 of 100 beats 0 of 12 (a bound of 0.04 against 0.18).
        let (fewShown, fewShownReadings) = readings([(100, 45), (100, 1), (12, 0)])
        let sure = SymmetrySpread.probability(.horizontalFlip, images: Array(fewShown.indices), groups: fewShown, readings: fewShownReadings)
        XCTAssertFalse(sure.classesAgree)
        XCTAssertEqual(sure.p, 0.01, accuracy: 1e-6)
        XCTAssertEqual(SymmetrySpread.wilsonUpperBound(successes: 50, trials: 100), 0.5 + 1.6449 * 0.05, accuracy: 0.01)
    }
}
