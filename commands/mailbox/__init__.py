"""`/mailcow mailbox …`, in four parts:

- `reads.py`: `mailbox list` and `mailbox show`, the help-desk view of a mailbox;
- `writes.py`: `mailbox create`, `edit`, `password` and `delete` as plans, the checks they share
  with the forms, and the `mailbox` state reader every one of them names;
- `views.py`: the Block Kit of the create, reset-password and edit forms;
- `forms.py`: their listeners: submissions, the mailbox and domain type-ahead, the global shortcut.
"""

from commands.mailbox import forms, reads, writes

register = forms.register

__all__ = ["forms", "reads", "register", "writes"]
