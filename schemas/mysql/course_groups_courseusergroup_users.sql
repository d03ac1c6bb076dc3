-- course_groups_courseusergroup_users: the auto-created table of
-- CourseUserGroup.users (ManyToManyField to auth_user), course_groups migration 0001.
-- See README.md in this folder for where each line comes from.
--
-- Legacy: edX keeps it in step with course_groups_cohortmembership
-- (CohortMembership.assign and the pre_delete handler in models.py), but the grade
-- report reads course_groups_cohortmembership, not this table.
--
-- Requires course_groups_courseusergroup (course_groups_courseusergroup.sql) first.
-- The foreign key user_id -> auth_user.id that edX has is left out so that this file
-- loads without auth_user; the index InnoDB would build for it is kept.

CREATE TABLE IF NOT EXISTS `course_groups_courseusergroup_users` (
  -- columns of Django's auto-created M2M model: id, then <from model>_id, then <to model>_id
  `id` int NOT NULL AUTO_INCREMENT,               -- implicit AutoField of the through model
  `courseusergroup_id` int NOT NULL,              -- FK to course_groups_courseusergroup.id
  `user_id` int NOT NULL,                         -- FK to auth_user.id (constraint left out, see above)
  PRIMARY KEY (`id`),
  -- the M2M table's unique_together (courseusergroup, user), created inside CREATE TABLE;
  -- Django's name is hashed, this one is descriptive. InnoDB also uses it for the
  -- courseusergroup_id foreign key, so that column has no separate index.
  UNIQUE KEY `course_groups_cugu_courseusergroup_id_user_id_uniq` (`courseusergroup_id`, `user_id`),
  -- index for the user_id foreign key (named like the constraint edX has, which is left out here)
  KEY `course_groups_cugu_user_id_fk` (`user_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `course_groups_cugu_courseusergroup_id_fk` FOREIGN KEY (`courseusergroup_id`)
    REFERENCES `course_groups_courseusergroup` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
