"""Step 2: a layer of three neurons, written out by hand.

Every neuron sees the same four inputs but has its own weights (one row of
``weights``) and its own bias. The arrays are the tutorial's ("Coding our first layer").
"""

# What the tutorial printed for the same code.
TUTORIAL = {"outputs": [4.67, 2.93, 1.19]}


def run() -> dict:
    inputs = [2.1, 1.7, 3.3, 0.8]
    weights = [[0.5, -0.2, 0.9, -0.3],   # neuron 1
               [0.7, 0.4, -0.6, 0.8],    # neuron 2
               [-0.1, 0.6, 0.2, -0.7]]   # neuron 3
    biases = [1.5, 2.2, 0.9]

    outputs = [
        inputs[0] * weights[0][0] + inputs[1] * weights[0][1]
        + inputs[2] * weights[0][2] + inputs[3] * weights[0][3] + biases[0],
        inputs[0] * weights[1][0] + inputs[1] * weights[1][1]
        + inputs[2] * weights[1][2] + inputs[3] * weights[1][3] + biases[1],
        inputs[0] * weights[2][0] + inputs[1] * weights[2][1]
        + inputs[2] * weights[2][2] + inputs[3] * weights[2][3] + biases[2],
    ]
    rounded = [round(value, 2) for value in outputs]
    print("Layer outputs:", outputs)
    print("Rounded:      ", rounded)
    print(f"The tutorial printed {TUTORIAL['outputs']}; the correct result is {rounded}.")
    return {"outputs": outputs}


if __name__ == "__main__":
    run()
