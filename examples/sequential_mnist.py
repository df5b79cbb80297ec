"""Sequential MNIST: an LSTM reads each digit row by row (28 steps of 28 pixels), run on Ember by changing only
its imports.

The body is ordinary PyTorch + torchvision code: an ``nn.LSTM(28, 128)`` over the rows, ``nn.Linear(128, 10)``
on the last hidden state, Adam at 1e-3 with batches of 128 and gradient clipping, the test accuracy per epoch.

    python examples/sequential_mnist.py --epochs 5                # MNIST from EMBER_DATA or --data-dir
"""
import argparse
import time

# --- the only lines that differ from the PyTorch original -----------------------------------------------
import ember as torch                                              # import torch
import ember.nn as nn                                              # import torch.nn as nn
from ember import datasets, transforms                            # from torchvision import datasets, transforms
from ember.utils.data import DataLoader, Subset                   # from torch.utils.data import DataLoader, Subset
# ---------------------------------------------------------------------------------------------------------


class RowLSTM(nn.Module):
    """Reads an image ``(B, 1, 28, 28)`` as 28 steps of 28 features; classifies from the last hidden state."""

    def __init__(self, input_size=28, hidden_size=128, num_classes=10):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, images):
        rows = images.view(images.size(0), 28, 28)       # (B, steps, features)
        _, (h_n, _) = self.lstm(rows)                   # h_n: (num_layers, B, hidden)
        return self.fc(h_n[-1])


def train_one_epoch(model, loader, criterion, optimizer, device, clip):
    model.train()
    running_loss, total = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        running_loss += loss.item() * images.size(0)
        total += images.size(0)
    return running_loss / total


def evaluate(model, loader, device):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            predicted = model(images).argmax(1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="clip the gradients' norm to this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: $EMBER_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(args.data_dir, train=True, download=False, transform=transform)
    test_set = datasets.MNIST(args.data_dir, train=False, download=False, transform=transform)
    if args.limit:
        train_set = Subset(train_set, range(args.limit))
    if args.test_limit:
        test_set = Subset(test_set, range(args.test_limit))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000, shuffle=False)

    model = RowLSTM().to(device)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    history = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        train_loss = train_one_epoch(model, train_loader, criterion, optimizer, device, args.clip)
        seconds = time.perf_counter() - start
        test_accuracy = evaluate(model, test_loader, device)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_accuracy": test_accuracy,
                        "seconds": seconds})
        print(f"epoch {epoch + 1}: train loss {train_loss:.4f} | test accuracy {100 * test_accuracy:.2f}% | "
              f"{seconds:.1f} s", flush=True)
    return history


if __name__ == "__main__":
    main()
