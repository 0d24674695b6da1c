"""English for mailcow's message keys.

Write answers carry `msg` as a translation key, alone or as `[key, arg, …]` (SERVER-FACTS §3.1). The UI
renders them from `lang.en-gb.json`; the bot needs the same, in its own words, for the keys that
SERVER-FACTS and apidocs.json name. `%s` placeholders are filled with the arguments in order; a key
not listed here is shown as its words (underscores to spaces) followed by its arguments, so a new
mailcow message is still readable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MESSAGES: dict[str, str] = {
    # success
    "Task completed": "task completed",
    "Added client access": "OAuth2 client added",
    "domain_added": "domain %s added",
    "domain_modified": "domain %s changed",
    "domain_removed": "domain %s removed",
    "domain_add_dkim_available": "a DKIM key for %s already existed and is used",
    "mailbox_added": "mailbox %s created",
    "mailbox_modified": "mailbox %s changed",
    "mailbox_removed": "mailbox %s removed",
    "alias_added": "alias %s added (id %s)",
    "alias_modified": "alias %s changed",
    "alias_removed": "alias %s removed",
    "rl_saved": "rate limit for %s saved",
    "dkim_added": "DKIM key for %s created",
    "dkim_duplicated": "DKIM key of %s copied to %s",
    "dkim_removed": "DKIM key for %s removed",
    "domain_admin_added": "domain administrator %s added",
    "domain_admin_modified": "domain administrator %s changed",
    "domain_admin_removed": "domain administrator %s removed",
    "bcc_saved": "BCC map saved",
    "bcc_edited": "BCC map %s changed",
    "bcc_deleted": "BCC map %s deleted",
    "recipient_map_entry_saved": "recipient map for %s saved",
    "recipient_map_entry_deleted": "recipient map %s deleted",
    "tls_policy_map_entry_saved": "TLS policy for %s saved",
    "tls_policy_map_entry_deleted": "TLS policy map %s deleted",
    "forwarding_host_added": "forwarding host %s added",
    "forwarding_host_removed": "forwarding host %s removed",
    "deleted_syncjob": "sync job %s deleted",
    "object_modified": "%s changed",
    "f2b_modified": "fail2ban settings saved",
    "queue_command_success": "queue command done",
    "item_deleted": "item %s deleted",
    "items_deleted": "items %s deleted",
    "item_released": "quarantined message %s released",
    "learned_ham": "message %s learned as ham",
    "qlearn_spam": "message %s learned as spam and deleted",
    # warnings
    "tag_limit_exceeded": "too many tags: only the first 25 were kept",
    "domain_added_sogo_failed": "domain added, but restarting SOGo failed",
    "fuzzy_learn_error": "learning the fuzzy hash failed",
    "maildir_removal_failed": "the maildir could not be moved to the garbage collector",
    # failures
    "Cannot add item": "mailcow could not add the item",
    "Cannot edit item": "mailcow could not change the item",
    "Cannot delete item": "mailcow could not delete the item",
    "access_denied": "access denied or invalid form data",
    "unknown": "the docker API gave no usable answer",
    "redis_error": "Redis error: %s",
    "domain_invalid": "the domain name is invalid",
    "domain_exists": "domain %s already exists",
    "domain_not_found": "domain %s not found",
    "domain_not_empty": "domain %s still has mailboxes; remove them first",
    "domain_cannot_match_hostname": "the domain cannot be the mail server's own hostname",
    "defquota_empty": "the default mailbox quota cannot be 0",
    "maxquota_empty": "the maximum mailbox quota cannot be 0",
    "mailbox_defquota_exceeds_mailbox_maxquota": "the default quota is above the maximum mailbox quota",
    "mailbox_quota_exceeds_domain_quota": "the maximum mailbox quota is above the domain quota",
    "max_quota_in_use": "a mailbox already uses more than the new maximum quota (%s MiB)",
    "domain_quota_m_in_use": "the mailboxes already take more than the new domain quota (%s MiB)",
    "mailboxes_in_use": "the domain already has more mailboxes than the new limit (%s)",
    "aliases_in_use": "the domain already has more aliases than the new limit (%s)",
    "mailbox_invalid": "the mailbox name is invalid",
    "username_invalid": "user name %s is invalid",
    "object_exists": "%s already exists",
    "is_alias": "%s is already an alias",
    "is_spam_alias": "%s is already a spam alias",
    "is_alias_or_mailbox": "%s is already an alias or a mailbox",
    "password_complexity": "the password does not meet the password policy",
    "password_mismatch": "the two passwords do not match",
    "mailbox_quota_exceeded": "the quota is above the domain's maximum per mailbox (%s)",
    "mailbox_quota_left_exceeded": "the domain has only %s MiB of quota left",
    "max_mailbox_exceeded": "the domain has reached its mailbox limit (%s of %s)",
    "max_alias_exceeded": "the domain has reached its alias limit",
    "quarantine_category_invalid": "the quarantine category is invalid",
    "extended_sender_acl_denied": "external sender addresses are not allowed",
    "sender_acl_invalid": "the sender ACL value %s is invalid",
    "extra_acl_invalid": "the external sender address %s is invalid",
    "comment_too_long": "the comment is longer than 160 characters",
    "alias_empty": "the alias address is empty",
    "goto_empty": "the alias has no destination",
    "goto_invalid": "destination %s is invalid",
    "alias_invalid": "alias %s is invalid",
    "network_host_invalid": "%s is not a valid IP address or network",
    "dkim_domain_or_sel_invalid": "the DKIM domain or selector is invalid, or a key already exists",
    "invalid_host": "%s does not resolve to any address",
    "invalid_bcc_map_type": "the BCC map type must be sender or rcpt",
    "bcc_empty": "the BCC destination is empty",
    "bcc_must_be_email": "the BCC destination %s is not an e-mail address",
    "bcc_exists": "a BCC map of this type already exists for %s",
    "invalid_recipient_map_old": "the original recipient %s is invalid",
    "invalid_recipient_map_new": "the new recipient %s is invalid",
    "recipient_map_entry_exists": "a recipient map for %s already exists",
    "tls_policy_map_dest_invalid": "the TLS policy destination is invalid",
    "tls_policy_map_parameter_invalid": "the TLS policy parameters are invalid",
    "tls_policy_map_entry_exists": "a TLS policy for %s already exists",
    "policy_list_from_invalid": "the sender pattern is invalid",
    "policy_list_from_exists": "the sender pattern already exists",
    "rl_timeframe": "the rate-limit time frame must be s, m, h or d",
    "release_send_failed": "releasing the message failed: %s",
    "ham_learn_error": "learning as ham failed: %s",
    "spam_learn_error": "learning as spam failed: %s",
    "app_passwd_id_invalid": "app password %s is invalid",
}

_PLACEHOLDER = re.compile(r"%[sd]")


def translate(key: str, args: Sequence[object] = ()) -> str:
    """English text for `key`, with `args` filled into its `%s`/`%d` placeholders in order.

    Missing arguments leave `?`; arguments beyond the placeholders are appended, so nothing mailcow
    said is lost.
    """
    template = MESSAGES.get(key)
    if template is None:
        words = key.replace("_", " ")
        return f"{words}: {', '.join(str(a) for a in args)}" if args else words
    remaining = [str(a) for a in args]

    def fill(_: re.Match[str]) -> str:
        return remaining.pop(0) if remaining else "?"

    text = _PLACEHOLDER.sub(fill, template)
    return f"{text} ({', '.join(remaining)})" if remaining else text
