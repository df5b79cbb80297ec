"""Tutorial programs that ship with Ember (``ember mnist`` runs the MNIST codelab)."""
