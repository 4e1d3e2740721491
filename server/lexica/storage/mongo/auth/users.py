"""`UserRepository` on MongoDB. Every check-then-change is one conditional single-document write.

No multi-document transactions (a standalone server has none), so "an admin remains" is kept by a guard document,
`guards/admins = {ids: [...], count: n}`, the set of admins that may be relied on, and one rule:

    the guard only ever names users whose document says role "admin".

A user becomes an admin in their own document first (a write conditional on `role != "admin"`, so each promotion
is counted once) and is added to the guard after; an admin leaves the guard first (a write conditional on the guard
still naming them, and on `count >= 2`, or with an actor on `ids ⊇ {actor, target}` and `count >= 2`) and only then
is demoted or deleted. While an admin is out of the guard but still "admin" in their document nothing can put them
back: a promotion matches no document that already says admin. So at every instant the guard names at least one
real admin, and two admins demoting (or deleting) each other at once are serialised by the one guard document: the
second `count >= 2` fails. The actor's own admin rights are checked in that same write (`ids` must name the actor).

A crash between the two writes can only leave an admin the guard does not name: safe (the guard counts fewer admins
than there are), but that admin cannot be demoted or deleted until they are added back by hand while no instance
runs (`db.guards.updateOne({_id: "admins"}, {$addToSet: {ids: "<id>"}, $inc: {count: 1}})`, only if absent).
Promotions and changes between other roles check the actor with a read before the write, as SQL's subquery does.
"""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from lexica.auth.repository import UserRecord
from lexica.storage.mongo.auth.documents import USER_FIELDS, user_record
from lexica.storage.mongo.database import (
    ADMINS_GUARD,
    API_KEYS,
    GUARDS,
    REFRESH_TOKENS,
    USERS,
    WORD_LISTS,
    Database,
    Document,
)

ADMIN = "admin"


class MongoUserRepository:
    def __init__(self, database: Database) -> None:
        self._users = database[USERS]
        self._guards = database[GUARDS]
        # What a user owns elsewhere, erased with them (delete_user).
        self._refresh_tokens = database[REFRESH_TOKENS]
        self._api_keys = database[API_KEYS]
        self._word_lists = database[WORD_LISTS]

    # the admin guard (see the module docstring)
    async def _count_admin(self, user_id: str) -> None:
        """Add a user whose document already says admin to the guard."""
        await self._guards.update_one(
            {"_id": ADMINS_GUARD, "ids": {"$ne": user_id}}, {"$addToSet": {"ids": user_id}, "$inc": {"count": 1}}
        )

    async def _release_admin(self, user_id: str, *, actor_id: str | None = None, keep_one: bool = True) -> bool:
        """Take an admin out of the guard before their document changes; False when the condition fails."""
        condition: Document = {"_id": ADMINS_GUARD, "ids": {"$all": [user_id, actor_id] if actor_id else [user_id]}}
        if keep_one:
            condition["count"] = {"$gte": 2}
        result = await self._guards.update_one(condition, {"$pull": {"ids": user_id}, "$inc": {"count": -1}})
        return result.modified_count == 1

    async def _is_admin(self, user_id: str) -> bool:
        return await self._users.count_documents({"_id": user_id, "role": ADMIN}, limit=1) == 1

    async def create_user(self, user: UserRecord) -> bool:
        try:
            await self._users.insert_one(
                {
                    "_id": user.id,
                    "email": user.email,
                    "display_name": user.display_name,
                    "password_hash": user.password_hash,
                    "role": user.role,
                    "created_at": user.created_at,
                    "totp_secret": user.totp_secret,
                    "totp_confirmed": user.totp_confirmed,
                    "totp_last_step": user.totp_last_step,
                    "recovery_codes": [],  # hashes of the unused codes
                }
            )
        except DuplicateKeyError:
            return False
        if user.role == ADMIN:
            await self._count_admin(user.id)
        return True

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        document = await self._users.find_one({"_id": user_id}, USER_FIELDS)
        return None if document is None else user_record(document)

    async def user_by_email(self, email: str) -> UserRecord | None:
        document = await self._users.find_one({"email": email}, USER_FIELDS)
        return None if document is None else user_record(document)

    async def any_admin(self) -> bool:
        return await self._users.count_documents({"role": ADMIN}, limit=1) == 1

    async def set_role(self, user_id: str, role: str, *, actor_id: str | None = None) -> bool:
        if actor_id is not None and not await self._is_admin(actor_id):
            return False
        if role == ADMIN:
            promoted = await self._users.update_one({"_id": user_id, "role": {"$ne": ADMIN}}, {"$set": {"role": ADMIN}})
            if promoted.modified_count == 1:
                await self._count_admin(user_id)
                return True
            return await self._users.count_documents({"_id": user_id}, limit=1) == 1  # already an admin
        changed = await self._users.update_one({"_id": user_id, "role": {"$ne": ADMIN}}, {"$set": {"role": role}})
        if changed.matched_count == 1:
            return True
        # Demoting an admin: out of the guard first. With an actor, the same write checks that the actor is still an
        # admin and that another admin remains; without one (the port's unconditional form) nothing else is checked.
        if not await self._release_admin(user_id, actor_id=actor_id, keep_one=actor_id is not None):
            return False  # no such user, the last admin, an actor no longer admin, or an admin the guard lacks
        # Out of the guard, the target still says admin and no promotion can match it: this write cannot miss.
        await self._users.update_one({"_id": user_id}, {"$set": {"role": role}})
        return True

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def set_totp(self, user_id: str, sealed_secret: str | None, confirmed: bool) -> None:
        fields: Document = {"totp_secret": sealed_secret, "totp_confirmed": confirmed, "totp_last_step": None}
        if sealed_secret is None:
            fields["recovery_codes"] = []
        await self._users.update_one({"_id": user_id}, {"$set": fields})

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        result = await self._users.update_one(
            {"_id": user_id, "$or": [{"totp_last_step": None}, {"totp_last_step": {"$lt": step}}]},
            {"$set": {"totp_last_step": step}},
        )
        return result.modified_count == 1

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str]) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"recovery_codes": list(code_hashes)}})

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        result = await self._users.update_one(
            {"_id": user_id, "recovery_codes": code_hash}, {"$pull": {"recovery_codes": code_hash}}
        )
        return result.modified_count == 1

    async def delete_user(self, user_id: str) -> bool:
        removed = await self._users.delete_one({"_id": user_id, "role": {"$ne": ADMIN}})
        if removed.deleted_count == 0:
            if not await self._release_admin(user_id):
                return False  # no such user, the last admin, or an admin the guard lacks
            await self._users.delete_one({"_id": user_id})
        # What belonged to them goes after the user (the decision); SQL's cascade does it in the same transaction.
        for collection, owner in ((self._refresh_tokens, "user_id"), (self._api_keys, "user_id")):
            await collection.delete_many({owner: user_id})
        await self._word_lists.delete_many({"owner_id": user_id})
        return True
