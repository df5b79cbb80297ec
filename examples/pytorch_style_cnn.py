"""A PyTorch-style CNN training script, run on Ember by changing only its imports.

The body is ordinary PyTorch + torchvision code: a MY_NET-style convnet, torchvision transforms, a DataLoader,
Adam with weight decay, a tqdm bar per epoch, and a classification report and confusion matrix at the end.

    python examples/pytorch_style_cnn.py --epochs 3                 # MNIST at 28x28 (EMBER_DATA or --data-root)
    python examples/pytorch_style_cnn.py --image-size 48            # the tutorial's 48x48x3 input
"""
import argparse
import json
import time

# --- the only lines that differ from the PyTorch original -----------------------------------------------
import ember as torch                                              # import torch
import ember.nn as nn                                              # import torch.nn as nn
from ember import datasets, transforms                            # from torchvision import datasets, transforms
from ember.utils.data import DataLoader, Subset                   # from torch.utils.data import DataLoader, Subset
from ember.progress import tqdm                                   # from tqdm import tqdm
from ember.metrics import classification_report, confusion_matrix  # from sklearn.metrics import ...
# ---------------------------------------------------------------------------------------------------------


class MY_NET(nn.Module):
    def __init__(self, image_size=28, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 128 * (image_size // 4) * (image_size // 4)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(flat, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def make_transforms(image_size):
    train_transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.Grayscale(num_output_channels=3),
        transforms.RandomRotation(10),
        transforms.ColorJitter(brightness=0.2, contrast=0.2),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    test_transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.Grayscale(num_output_channels=3),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    return train_transform, test_transform


def train_one_epoch(model, loader, criterion, optimizer, device, epoch, epochs):
    model.train()
    running_loss, correct, total = 0.0, 0, 0
    progress = tqdm(loader, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch")
    for images, labels in progress:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * images.size(0)
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
        progress.set_postfix(loss=f"{running_loss / total:.4f}", acc=f"{100.0 * correct / total:.2f}%")
    return running_loss / total, correct / total


def evaluate(model, loader, criterion, device):
    model.eval()
    test_loss, correct, total = 0.0, 0, 0
    all_labels, all_predictions = [], []
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            test_loss += criterion(outputs, labels).item() * images.size(0)
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            all_labels.extend(labels.cpu().tolist())
            all_predictions.extend(predicted.cpu().tolist())
    return test_loss / total, correct / total, all_labels, all_predictions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--data-root", default=None, help="folder holding mnist/ (default: $EMBER_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the final metrics as JSON to this file")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_transform, test_transform = make_transforms(args.image_size)
    train_set = datasets.MNIST(args.data_root, train=True, download=False, transform=train_transform)
    test_set = datasets.MNIST(args.data_root, train=False, download=False, transform=test_transform)
    if args.limit:
        train_set = Subset(train_set, range(args.limit))
    if args.test_limit:
        test_set = Subset(test_set, range(args.test_limit))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    test_loader = DataLoader(test_set, batch_size=1000, shuffle=False, num_workers=args.workers)

    model = MY_NET(args.image_size).to(device)
    print(model)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)

    history = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        train_loss, train_accuracy = train_one_epoch(model, train_loader, criterion, optimizer, device, epoch,
                                                     args.epochs)
        seconds = time.perf_counter() - start
        test_loss, test_accuracy, labels, predictions = evaluate(model, test_loader, criterion, device)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_accuracy,
                        "test_loss": test_loss, "test_accuracy": test_accuracy, "seconds": seconds})
        print(f"epoch {epoch + 1}: train loss {train_loss:.4f} acc {100 * train_accuracy:.2f}% | "
              f"test loss {test_loss:.4f} acc {100 * test_accuracy:.2f}% | {seconds:.1f} s")

    print(classification_report(labels, predictions, target_names=[str(c) for c in range(10)], digits=4))
    print(confusion_matrix(labels, predictions))
    if args.out:
        with open(args.out, "w") as stream:
            json.dump({"image_size": args.image_size, "batch_size": args.batch_size, "history": history}, stream,
                      indent=1)
    return history


if __name__ == "__main__":
    main()
