"""Step 7: activation functions, ReLU and softmax, on the tutorial's arrays.

ReLU keeps positive values and turns everything else into 0: max(0, x).
Softmax turns a row of scores into probabilities: exp(x_i) / sum_j exp(x_j).
Subtracting the row's maximum first does not change the result (it cancels in
the fraction) but keeps exp from overflowing.

The scores are the 3x4 array that step 5 fed in as three samples of four inputs; here
they stand for a layer's outputs, three samples scored over four classes.
"""
import math

import numpy as np

# What the tutorial printed for softmax of SCORES (its ReLU output is right).
TUTORIAL = {"softmax": [[0.06414709, 0.17437149, 0.47399085, 0.28748998],
                        [0.00517666, 0.90739747, 0.00224921, 0.08517666],
                        [0.00522904, 0.14875873, 0.83547983, 0.0105316]]}
SCORES = [[1.0, 2.0, 3.0, 2.5],
          [2.0, 5.0, -1.0, 2.0],
          [-1.5, 2.7, 3.3, -0.8]]


def run() -> dict:
    values = [0, 2, -1, 3.3, -2.7, 1.1, 2.2, -100]
    relu = [max(0, x) for x in values]
    relu_numpy = np.maximum(0, values)
    print("ReLU, plain Python:", relu)
    print("ReLU, NumPy:       ", relu_numpy)

    # Softmax of the first row in plain Python.
    row = SCORES[0]
    exps = [math.exp(x - max(row)) for x in row]
    softmax_row0 = [e / sum(exps) for e in exps]
    print("\nSoftmax of", row, "in plain Python:", softmax_row0)

    # The whole batch with NumPy: axis=1 works row by row, keepdims keeps (3, 1) for broadcasting.
    scores = np.array(SCORES)
    exp_values = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    softmax = exp_values / np.sum(exp_values, axis=1, keepdims=True)
    row_sums = np.sum(softmax, axis=1)
    print("Softmax of the batch:")
    print(softmax)
    print("Row sums:", row_sums)

    printed = np.array(TUTORIAL["softmax"])
    wrong = np.abs(np.round(softmax, 8) - printed) > 5e-9
    print(f"\nThe tutorial printed {int(wrong.sum())} of these 12 probabilities wrongly:")
    for i, j in zip(*np.nonzero(wrong)):
        print(f"  row {i}, column {j}: the tutorial printed {printed[i, j]:.8f}; "
              f"the correct result is {softmax[i, j]:.8f}.")
    return {"relu": relu, "relu_numpy": relu_numpy, "softmax_row0": softmax_row0,
            "softmax": softmax, "row_sums": row_sums, "wrong_entries": int(wrong.sum())}


if __name__ == "__main__":
    run()
