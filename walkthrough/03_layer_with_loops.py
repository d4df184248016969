"""Step 3: the same layer with two loops.

The outer loop takes one neuron at a time (its weights and bias); the inner loop
adds up input * weight for that neuron. Adding a neuron or an input now means
changing the data, not the code. Same arrays as step 2.
"""

# What the tutorial printed for the same code ("Using loops ...").
TUTORIAL = {"outputs": [4.67, 2.93, 1.19]}


def run() -> dict:
    inputs = [2.1, 1.7, 3.3, 0.8]
    weights = [[0.5, -0.2, 0.9, -0.3],
               [0.7, 0.4, -0.6, 0.8],
               [-0.1, 0.6, 0.2, -0.7]]
    biases = [1.5, 2.2, 0.9]

    outputs = []
    for neuron_weights, neuron_bias in zip(weights, biases):
        neuron_output = 0.0
        for n_input, weight in zip(inputs, neuron_weights):
            neuron_output += n_input * weight
        outputs.append(neuron_output + neuron_bias)

    rounded = [round(value, 2) for value in outputs]
    for number, value in enumerate(outputs, start=1):
        print(f"Neuron {number}: {value}")
    print(f"The tutorial printed {TUTORIAL['outputs']}; the correct result is {rounded}.")
    return {"outputs": outputs}


if __name__ == "__main__":
    run()
