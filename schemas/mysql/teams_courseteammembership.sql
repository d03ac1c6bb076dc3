-- teams_courseteammembership: final state after edX teams migrations 0001..0004
-- (lms/djangoapps/teams/migrations). See README.md in this folder.
--
-- Requires teams_courseteam (teams_courseteam.sql) first. The foreign key
-- user_id -> auth_user.id that edX has is left out so that this file loads without
-- auth_user. This table is also the `through` table of CourseTeam.users, so there is
-- no separate M2M table.

CREATE TABLE IF NOT EXISTS `teams_courseteammembership` (
  -- 0001 CreateModel CourseTeamMembership, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `date_joined` datetime(6) NOT NULL,             -- DateTimeField(auto_now_add=True)
  `last_activity_at` datetime(6) NOT NULL,        -- DateTimeField()
  `team_id` int NOT NULL,                         -- ForeignKey(CourseTeam, related_name='membership')
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  PRIMARY KEY (`id`),
  -- unique_together (user, team) (0001, in edX's column order). Django's name is hashed,
  -- this one is descriptive. It exists before Django adds the (deferred) foreign keys,
  -- so InnoDB uses it for the user_id foreign key as well.
  UNIQUE KEY `teams_ctm_user_id_team_id_uniq` (`user_id`, `team_id`),
  -- index backing the team_id foreign key (named like the constraint)
  KEY `teams_ctm_team_id_fk` (`team_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `teams_ctm_team_id_fk` FOREIGN KEY (`team_id`) REFERENCES `teams_courseteam` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
